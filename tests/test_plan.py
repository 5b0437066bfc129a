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


# -- which variant is this machine's (machines.choose), from a home laid out by hand ----


def generation(root: str, name: str, g: str, python: str) -> None:
    """A generation with an interpreter link and no stamp (what choose reads)."""
    import os

    gen = os.path.join(root, "envs", name, g)
    os.makedirs(os.path.join(gen, "bin"))
    os.symlink(python, os.path.join(gen, "bin", "python"))


def test_the_variant_chosen_is_the_first_whose_interpreter_is_here(tmp_path: object) -> None:
    import os
    import sys

    from uvlaunch.building import machines
    from uvlaunch.home import pointer
    from uvlaunch.home.env import Env

    root = str(tmp_path)
    os.mkdir(os.path.join(root, "tmp"))  # where pointers are made (store.open_home makes it)
    env = Env(root, "tool-0123456789")
    assert machines.choose(env) == ""  # nothing yet: the first variant
    generation(root, env.name, "g1", "/nonexistent/python3")  # another machine's
    generation(root, env.name, "g2", sys.executable)
    env.point("current", "g1")
    other = "-" + "a" * pointer.KEY_DIGITS
    assert machines.choose(env) is None  # only another machine's: build one beside
    env.point("current" + other, "g2")
    assert machines.choose(env) == other
    os.unlink(os.path.join(env.dir, "current"))
    env.point("current", "g2")
    assert machines.choose(env) == ""  # the first one that is usable here
