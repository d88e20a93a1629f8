"""CRMForge's performance suite: each figure is measured against a hand-written baseline
in the same run, because absolute timings on a shared 2-core machine swing by +-40%.

Run it with ``.venv/bin/python -m benchmarks`` (see ``benchmarks/README.md``). It is not
part of the test suite: nothing here is named ``test_*`` and pytest only collects
``tests/``.
"""
