"""What the reference solutions of one sandbox job share: `cached(key, make)`.

`sandmle.synth.solution_scripts.batch` runs several solutions of a task in one process and
hands each the same `FEATURE_CACHE` dict, so input tables and features (image parts, text
matrices, lag features, network scores) are computed once per job, not once per solution.
A script run on its own starts with an empty cache. Inlined into the scripts that use it.
"""

FEATURE_CACHE: dict = globals().get("FEATURE_CACHE", {})    # batch.py binds it first


def cached(key, make):
    """make(), computed once per key in this process; callers never modify the value."""
    if key not in FEATURE_CACHE:
        FEATURE_CACHE[key] = make()
    return FEATURE_CACHE[key]
