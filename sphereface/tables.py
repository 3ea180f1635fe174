"""Fixed-width text tables, for results and benchmark records.

Tables are printed rather than rendered so that a notebook's stored
output is plain text that nbval can compare and a terminal can show.
"""


def format_table(records, columns):
    """A fixed-width text table; ``columns`` maps key -> (title, format).

    Percentages: give the format ``"%"`` to print ``0.9962`` as 99.62.
    """
    def cell(record, key, fmt):
        value = record.get(key)
        if value is None:
            return "-"
        if fmt == "%":
            return f"{100 * value:.2f}"
        return format(value, fmt)

    rows = [[title for title, _ in columns.values()]]
    rows += [[cell(r, key, fmt) for key, (_, fmt) in columns.items()]
             for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(text.rjust(w) for text, w in zip(row, widths))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
