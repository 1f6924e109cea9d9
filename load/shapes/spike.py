"""spike shape: Hold --base-share of -u users; jump to all -u at --spike-start for --spike-length (shares of -t), then back.

    locust -f SCENARIO.py,$(aigw load --print-shapefile spike) --headless -u 20 -r 5 -t 120s --host URL
"""

from aigw.load.shape_plans import spike_users
from aigw.load.shapes.base import AigwShape


class SpikeShape(AigwShape):
    def users_at(self, now, total, users, rate, options):
        return spike_users(now, total, users, rate, options)
