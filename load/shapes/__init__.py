"""Load shapes for any aigw scenario: steady, step, spike, soak (one Locust LoadTestShape per file).

Add a shape's file beside the scenario's: ``locust -f SCENARIO.py,SHAPE.py`` (``aigw load --shape step``
does this). Every shape reads the usual ``-u`` (peak users), ``-r`` (spawn rate) and ``-t`` (run time)
and ends the run itself when the time is up. The abstract base is in ``base`` (it imports Locust; this package
file does not, so finding the files never patches the caller).
"""
