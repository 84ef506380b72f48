"""``laserrec bench``: how fast Laser runs on this machine and what share of its matmul ceiling it reaches.

``run.run_bench`` (the parent) spawns one ``child`` process per measurement; ``paths`` holds the two ways of
encoding prompts it compares (the fast path and a plain Hugging Face forward) and the FLOP count.
"""
