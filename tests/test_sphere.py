import numpy as np
import pytest

from sphereface import sphere


def test_random_unit_vectors_are_unit_and_seeded():
    a = sphere.random_unit_vectors(50, 7, seed=3)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0)
    np.testing.assert_array_equal(a, sphere.random_unit_vectors(50, 7, 3))


def test_angle_and_chord():
    u = np.array([[1.0, 0.0], [1.0, 0.0], [2.0, 0.0]])
    v = np.array([[0.0, 3.0], [-1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(sphere.angle_between(u, v),
                               [np.pi / 2, np.pi, 0.0], atol=1e-12)
    np.testing.assert_allclose(sphere.chord_length([1.0, 0.0, -1.0]),
                               [0.0, np.sqrt(2), 2.0])


def test_softmax_rows_sum_to_one_and_stable():
    p = sphere.softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(p, [[0.5, 0.5], [0.25, 0.75]])


def test_binary_closed_form_and_minimal_m():
    intra, inter = sphere.binary_intra_inter(4, 1.0)
    assert intra == pytest.approx(1 / 5 + 1 / 3)
    assert inter == pytest.approx(3 / 5)
    m = sphere.minimal_m(lambda m: sphere.binary_intra_inter(m, 1.0), 1.5)
    assert m == pytest.approx(2 + np.sqrt(3), abs=1e-8)
    m = sphere.minimal_m(lambda m: sphere.multiclass_intra_inter(m, 1.0),
                         1.5)
    assert m == pytest.approx(3.0, abs=1e-8)


def test_minimal_m_rejects_bad_bracket():
    with pytest.raises(ValueError, match="fail at lo"):
        sphere.minimal_m(lambda m: sphere.binary_intra_inter(m, 1.0), 5, 9)


@pytest.mark.parametrize("m", [2, 3, 4])
def test_circle_regions_match_closed_form(m):
    theta12 = np.radians(50)
    phi, labels = sphere.circle_regions(np.array([0.0, theta12]), m)
    widths = sphere.arc_widths(phi, labels)
    intra, inter = sphere.binary_intra_inter(m, theta12)
    assert widths[0][0] == pytest.approx(intra, abs=np.radians(0.3))
    assert min(widths[-1]) == pytest.approx(inter, abs=np.radians(0.3))


def test_modified_softmax_claims_whole_circle():
    phi, labels = sphere.circle_regions(np.radians([0, 100, 220]), 1)
    assert np.all(labels >= 0)
    assert sum(sum(w) for w in sphere.arc_widths(phi, labels).values()) \
        == pytest.approx(2 * np.pi)


def test_arc_widths_single_label():
    assert sphere.arc_widths(np.zeros(4), np.ones(4, int)) == {1: [2 * np.pi]}
