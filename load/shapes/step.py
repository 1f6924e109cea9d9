"""step shape: Climb to -u users in --steps equal steps, each lasting -t / --steps.

    locust -f SCENARIO.py,$(aigw load --print-shapefile step) --headless -u 20 -r 5 -t 120s --host URL
"""

from aigw.load.shape_plans import step_users
from aigw.load.shapes.base import AigwShape


class StepShape(AigwShape):
    def users_at(self, now, total, users, rate, options):
        return step_users(now, total, users, rate, options)
