"""The contract suite's test modules, one per group; run them with ``aigw check`` or
``pytest --pyargs aigw.contract_tests.suite --aigw-target URL``."""
