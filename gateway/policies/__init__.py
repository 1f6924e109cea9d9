"""The policy registry: APIM policy element name → implementation class.

Each policy is one small module; adding one means importing its class here.
"""

from aigw.gateway.policies.base import Policy
from aigw.gateway.policies.basic import ForwardRequest, RetryPolicy, SetBackendService, SetHeader
from aigw.gateway.policies.call_limits import QuotaByKey, RateLimitByKey
from aigw.gateway.policies.content_safety import ContentSafety, ContentSafetyAzureOpenAI
from aigw.gateway.policies.emit_token_metric import EmitTokenMetric, EmitTokenMetricAzureOpenAI
from aigw.gateway.policies.llm_token_limit import AzureOpenAiTokenLimit, LlmTokenLimit
from aigw.gateway.policies.semantic_cache import (AzureOpenAiSemanticCacheLookup, AzureOpenAiSemanticCacheStore,
                                                 SemanticCacheLookup, SemanticCacheStore)

registry: dict[str, type[Policy]] = {
    cls.name: cls
    for cls in (
        SetBackendService,
        SetHeader,
        RetryPolicy,
        ForwardRequest,
        RateLimitByKey,
        QuotaByKey,
        ContentSafety,
        ContentSafetyAzureOpenAI,
        EmitTokenMetric,
        EmitTokenMetricAzureOpenAI,
        LlmTokenLimit,
        AzureOpenAiTokenLimit,
        SemanticCacheLookup,
        SemanticCacheStore,
        AzureOpenAiSemanticCacheLookup,
        AzureOpenAiSemanticCacheStore,
    )
}
