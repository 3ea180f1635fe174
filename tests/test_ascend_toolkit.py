"""Finding the CANN toolkit, msame and ais_bench where users have them."""

import pytest

from sphereface.ascend import deployment, toolkit
from sphereface.ascend.toolkit import ToolError, find_msame, find_set_env


@pytest.fixture
def places(tmp_path, monkeypatch):
    """A fake / (for /usr/local/Ascend) and HOME, with no toolkit yet."""
    monkeypatch.setattr(toolkit, "ASCEND_ROOT", tmp_path / "usr_Ascend")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH", "MSAME"):
        monkeypatch.delenv(name, raising=False)
    return {"root": tmp_path / "usr_Ascend" / "ascend-toolkit",
            "user": tmp_path / "home" / "Ascend" / "ascend-toolkit",
            "cann": tmp_path / "usr_Ascend" / "cann",
            "tmp": tmp_path}


def install(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "set_env.sh").write_text("export ASCEND_TOOLKIT_HOME=x\n")
    (folder / "latest").mkdir(exist_ok=True)
    return folder / "set_env.sh"


def test_no_toolkit_anywhere(places):
    assert find_set_env() is None


@pytest.mark.parametrize("first,second", [("root", "user"),
                                          ("user", "cann"),
                                          ("root", "cann")])
def test_standard_places_in_order(places, first, second):
    later = install(places[second])
    assert find_set_env() == later
    earlier = install(places[first])
    assert find_set_env() == earlier  # nothing cached


def test_set_env_in_latest_is_found(places):
    (places["cann"] / "latest").mkdir(parents=True)
    script = places["cann"] / "latest" / "set_env.sh"
    script.write_text("")
    assert find_set_env() == script


@pytest.mark.parametrize("name", ["ASCEND_TOOLKIT_HOME",
                                  "ASCEND_HOME_PATH"])
def test_environment_wins_and_looks_one_level_up(places, monkeypatch,
                                                 name):
    install(places["root"])
    mine = install(places["tmp"] / "opt" / "ascend-toolkit")
    monkeypatch.setenv(name, str(mine.parent / "latest"))
    assert find_set_env() == mine
    assert find_set_env(environ={}) == places["root"] / "set_env.sh"


def test_explicit_script_or_folder_wins(places):
    install(places["root"])
    mine = install(places["tmp"] / "mine")
    assert find_set_env(mine) == mine
    assert find_set_env(mine.parent) == mine
    with pytest.raises(FileNotFoundError, match="nope: no set_env.sh"):
        find_set_env(places["tmp"] / "nope")


def executable(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_msame_from_argument_then_environment_then_path(places,
                                                        monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert find_msame() is None
    on_path = executable(places["tmp"] / "bin" / "msame")
    monkeypatch.setenv("PATH", f"{on_path.parent}:/usr/bin:/bin")
    assert find_msame() == on_path
    built = executable(places["tmp"] / "tools" / "msame" / "out" / "msame")
    monkeypatch.setenv("MSAME", str(built))
    assert find_msame() == built
    mine = executable(places["tmp"] / "mine" / "msame")
    assert find_msame(mine) == mine
    monkeypatch.setenv("MSAME", str(places["tmp"] / "gone"))
    with pytest.raises(FileNotFoundError, match=r"gone \(\$MSAME\): not "
                       "an executable msame"):
        find_msame()
    mine.chmod(0o644)
    with pytest.raises(FileNotFoundError, match=r"\(--msame\)"):
        find_msame(mine)


def test_tools_are_found_only_after_sourcing(places, tmp_path):
    kit = tmp_path / "kit"
    atc = executable(kit / "bin" / "atc")
    script = kit / "set_env.sh"
    script.write_text(f'export PATH="{kit / "bin"}:$PATH"\n')
    assert toolkit.which_after_sourcing("atc", script) == atc
    script.write_text("true\n")
    assert toolkit.which_after_sourcing("atc", script) is None


def test_ais_bench_needs_its_options_in_the_sourced_python(places,
                                                          tmp_path):
    site = tmp_path / "site" / "ais_bench"
    site.mkdir(parents=True)
    (site / "__init__.py").write_text("")
    (site / "__main__.py").write_text("print('an LLM evaluation suite')\n")
    script = tmp_path / "set_env.sh"
    script.write_text(f'export PYTHONPATH="{site.parent}"\n')
    assert not toolkit.ais_bench_works(script)  # the unrelated namesake
    (site / "__main__.py").write_text("print('usage: --dymBatch N')\n")
    assert toolkit.ais_bench_works(script)
    script.write_text("true\n")
    assert not toolkit.ais_bench_works(script)


def test_route_is_loud_when_a_tool_is_missing(places, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert deployment.choose_route() == ("cpu-stand-in", None, None)
    msame = executable(places["tmp"] / "msame")
    with pytest.raises(ToolError, match="no CANN toolkit found"):
        deployment.choose_route(msame=msame)
    with pytest.raises(ToolError, match="no CANN toolkit found"):
        deployment.choose_route(convert_only=True)
    script = install(places["user"])
    assert deployment.choose_route(msame=msame) == ("msame", script, msame)
    assert deployment.choose_route(msame=msame, convert_only=True) == (
        None, script, None)
    with pytest.raises(ToolError, match="neither msame nor ais_bench.*"
                       "build.sh g.. .PWD/out"):
        deployment.choose_route()
