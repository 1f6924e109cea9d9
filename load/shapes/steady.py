"""steady shape: Ramp to -u users at -r per second and hold them for -t.

    locust -f SCENARIO.py,$(aigw load --print-shapefile steady) --headless -u 20 -r 5 -t 120s --host URL
"""

from aigw.load.shape_plans import steady_users
from aigw.load.shapes.base import AigwShape


class SteadyShape(AigwShape):
    def users_at(self, now, total, users, rate, options):
        return steady_users(now, total, users, rate, options)
