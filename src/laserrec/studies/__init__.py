"""The lab beside the library: the Laser paper's experiments (``experiments``), the speed harness of
``laserrec bench`` (``bench``), the GPU sizing of ``laserrec plan`` (``plan``), DARec's adapter search
(``adapter_search``) and their commands (``cli``).

The studies import the core (data, llm, models, evaluation, training, inference, the use commands); the
core never imports them (tests/test_layering.py, docs/layout.md).
"""
