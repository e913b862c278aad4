"""Index schemes: published tables, round trips, refusals."""

import pytest

import metrology as mt
from metrology import ConventionError

from reference import ANSI_0_9, FRINGE_1_37, NOLL_1_22


def test_fringe_table_matches_published_list():
    assert [mt.fringe_to_order(j) for j in range(1, 38)] == FRINGE_1_37


def test_fringe_classic_mistakes():
    # Z37 is (12, 0), not (10, 2) or the next term of some extended ordering
    assert mt.zernike_order("fringe", 37) == (12, 0)
    assert mt.zernike_order("fringe", 36) == (10, 0)
    assert mt.zernike_order("fringe", 9) == (4, 0)  # primary spherical
    assert mt.zernike_order("fringe", 5) == (2, 2)  # cosine first in a pair


def test_noll_table_matches_published_list():
    assert [mt.noll_to_order(j) for j in range(1, 23)] == NOLL_1_22


def test_noll_even_is_cosine():
    for j in range(2, 300):
        n, m = mt.noll_to_order(j)
        if m != 0:
            assert (m > 0) == (j % 2 == 0), j


def test_ansi_table_and_formula():
    assert [mt.ansi_to_order(j) for j in range(10)] == ANSI_0_9
    for j in range(0, 201):
        n, m = mt.ansi_to_order(j)
        assert (n * (n + 2) + m) // 2 == j


@pytest.mark.parametrize("scheme,lo,hi", [("noll", 1, 201), ("ansi", 0, 201), ("fringe", 1, 38)])
def test_round_trips(scheme, lo, hi):
    seen = set()
    for j in range(lo, hi):
        n, m = mt.zernike_order(scheme, j)
        assert n >= abs(m) and (n - abs(m)) % 2 == 0
        assert mt.zernike_index(scheme, n, m) == j
        seen.add((n, m))
    assert len(seen) == hi - lo  # a bijection


def test_noll_and_ansi_cover_each_order_completely():
    for scheme, start in (("noll", 1), ("ansi", 0)):
        modes = {mt.zernike_order(scheme, j) for j in range(start, start + 231)}
        assert modes == {(n, m) for n in range(21) for m in range(-n, n + 1, 2)}


@pytest.mark.parametrize("bad", [0, 38, 100, -1])
def test_fringe_refuses_outside_1_37(bad):
    with pytest.raises(ConventionError, match="Fringe"):
        mt.zernike_order("fringe", bad)


def test_other_refusals():
    with pytest.raises(ConventionError, match="scheme"):
        mt.zernike_order("zemax-standard", 3)
    with pytest.raises(ConventionError):
        mt.zernike_order("noll", 0)
    with pytest.raises(ConventionError):
        mt.zernike_order("ansi", -1)
    with pytest.raises(ConventionError):
        mt.zernike_index("noll", 3, 2)  # n - |m| odd
    with pytest.raises(ConventionError):
        mt.zernike_index("fringe", 14, 0)
    with pytest.raises(ConventionError):
        mt.zernike_order("noll", 2.0)


def test_names():
    assert mt.zernike_name(0, 0) == "piston"
    assert mt.zernike_name(2, 0).startswith("power")
    assert "coma" in mt.zernike_name(3, -1)
    assert mt.zernike_name(4, 0) == "primary spherical"
    assert mt.zernike_name(20, 2) == "Z(20, 2)"


# ----------------------------------------------------------------------------- vocabulary

@pytest.mark.parametrize("old,new,args", [
    ("zernike_nm", "zernike_order", ("noll", 11)),
    ("fringe_to_nm", "fringe_to_order", (9,)),
    ("noll_to_nm", "noll_to_order", (6,)),
    ("ansi_to_nm", "ansi_to_order", (4,)),
    ("nm_to_fringe", "order_to_fringe", (4, 0)),
    ("nm_to_noll", "order_to_noll", (2, 2)),
    ("nm_to_ansi", "order_to_ansi", (3, -1)),
])
def test_index_pair_helpers_old_names_warn_and_agree(old, new, args):
    """``_nm`` means nanometres: the (n, m) helpers are ``*_order``; the old names still
    work for a while, with a DeprecationWarning naming the new one."""
    with pytest.warns(DeprecationWarning, match=new):
        got = getattr(mt, old)(*args)
    assert got == getattr(mt, new)(*args)


def test_one_table_of_term_names():
    """Spec term names, ``remove`` group names and display names come from one table."""
    from metrology import zernike_schemes as zs
    from metrology.spec import TERM_NAMES

    assert TERM_NAMES is zs.TERMS
    for name, (n, am) in zs.TERMS.items():
        members = zs.term_members(n, am)
        assert zs.GROUPS[name] == members
        # the display name of each member carries the term name (spaces for "_")
        base = name.replace("_", " ")
        for order in members:
            assert base in mt.zernike_name(*order) or name == "power", (name, order)
    # a spelled-out name with spaces and an alias resolve to the same term
    assert zs.resolve_terms(["secondary astigmatism"], "fringe")[0] == \
        zs.resolve_terms(["secondary_astigmatism"], "fringe")[0] == [12, 13]
    assert zs.resolve_terms(["defocus"], "noll")[1] == [(2, 0)]
