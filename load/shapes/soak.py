"""soak shape: Ramp gently to -u users over --ramp-share of -t, then hold for a long -t (hours): leaks, drift, window roll-overs.

    locust -f SCENARIO.py,$(aigw load --print-shapefile soak) --headless -u 20 -r 5 -t 120s --host URL
"""

from aigw.load.shape_plans import soak_users
from aigw.load.shapes.base import AigwShape


class SoakShape(AigwShape):
    def users_at(self, now, total, users, rate, options):
        return soak_users(now, total, users, rate, options)
