"""The policy registry: APIM policy element name → implementation class.

Each policy is one small module; adding one means importing its class here.
"""

from aigw.gateway.policies.base import Policy
from aigw.gateway.policies.basic import ForwardRequest, RetryPolicy, SetBackendService, SetHeader
from aigw.gateway.policies.call_limits import QuotaByKey, RateLimitByKey

registry: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        SetBackendService,
        SetHeader,
        RetryPolicy,
        ForwardRequest,
        RateLimitByKey,
        QuotaByKey,
    )
}
