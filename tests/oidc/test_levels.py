"""Levels: any acr_values text and client level give a level at least the client's
and at least the lowest known level asked, and one device kind's acr meets exactly
the levels at or below it."""

import pytest
from hypothesis import given, strategies as st

from host.oidc import levels
from host.verifier.kinds import KINDS

pytest.importorskip("authlib")

words = st.one_of(st.sampled_from(levels.LEVELS), st.text(alphabet=st.characters(blacklist_categories=("Z", "C")),
                                                          max_size=30))


@given(client_level=st.sampled_from(levels.LEVELS), asked=st.lists(words, max_size=5),
       spaces=st.sampled_from([" ", "  ", "\t"]))
def test_the_needed_level_is_the_higher_of_the_clients_and_the_lowest_asked(client_level, asked, spaces):
    needed = levels.needed(client_level, spaces.join(asked))
    assert needed in levels.LEVELS and levels.rank(needed) >= levels.rank(client_level)
    known = [a for a in asked if a in levels.LEVELS]
    if known:
        assert levels.rank(needed) == max(levels.rank(client_level), min(levels.rank(a) for a in known))
    else:
        assert needed == client_level


@given(kind=st.sampled_from(sorted(KINDS) + ["", "other"]), level=st.sampled_from(levels.LEVELS))
def test_a_logins_level_meets_exactly_the_levels_at_or_below_it(kind, level):
    acr, amr = levels.of_kind(kind)
    assert levels.enough(acr, level) == (levels.rank(acr) >= levels.rank(level))
    assert amr[0] == "pwd" and amr[-1] == "mfa" and len(amr) == 3
    assert {"token": "hwk", "mobile": "swk"}.get(kind, "otp") == amr[1]
