"""plan.decide: what a launch does to an environment, from facts alone (quick tier)."""

from __future__ import annotations

import itertools

from uvlaunch.building import plan
from uvlaunch.building.plan import CREATE, EDIT, KEEP, LEGACY, REBUILD, Facts, Plan, decide


def test_each_fact_decides_its_plan() -> None:
    assert decide(Facts()) == Plan(KEEP)
    assert decide(Facts(legacy=True)) == Plan(REBUILD, LEGACY)
    assert decide(Facts(chosen=None)) == Plan(CREATE, other_machines=True)
    assert decide(Facts(present=False)) == Plan(CREATE)
    assert decide(Facts(chosen="-" + "a" * 12, present=False)) == Plan(CREATE)
    assert decide(Facts(damage="it was left half-built")) == Plan(REBUILD, "it was left half-built")
    assert decide(Facts(changed=True)) == Plan(EDIT)
    assert decide(Facts(changed=True, admits="requires-python '>=3.14' no longer admits")) == (
        Plan(REBUILD, "requires-python '>=3.14' no longer admits")
    )


def test_only_keep_leaves_the_current_generation_as_it_is() -> None:
    # Every change is a new generation: whatever the facts, a plan either keeps the
    # current generation (only its stamp is brought up to date) or builds a new one.
    for legacy, chosen, present, damage, changed, admits in itertools.product(
        (False, True),
        ("", "-0123456789ab", None),
        (False, True),
        (None, "x"),
        (False, True),
        (None, "y"),
    ):
        facts = Facts(
            legacy=legacy,
            chosen=chosen,
            present=present,
            damage=damage,
            changed=changed,
            admits=admits,
        )
        got = decide(facts)
        assert got.action in (KEEP, CREATE, EDIT, REBUILD)
        assert got.builds == (got.action != KEEP)
        if got.action == KEEP:
            # Kept only when nothing calls for a change.
            assert not legacy and chosen is not None and present
            assert damage is None and not changed
        if got.action == REBUILD:
            assert got.reason  # a rebuild always says why
        if legacy:
            assert got == Plan(REBUILD, plan.LEGACY)
