"""Header names, lower-case as ASGI delivers them, so every component spells them the same way."""

API_KEY = "api-key"
AUTHORIZATION = "authorization"
CONTENT_TYPE = "content-type"
CONTENT_LENGTH = "content-length"
ACCEPT = "accept"

# Correlation headers Azure OpenAI / API Management put on every response.
APIM_REQUEST_ID = "apim-request-id"
X_REQUEST_ID = "x-request-id"
X_MS_REGION = "x-ms-region"
X_MS_CLIENT_REQUEST_ID = "x-ms-client-request-id"

# Rate limiting.
RETRY_AFTER = "retry-after"
RETRY_AFTER_MS = "retry-after-ms"
REMAINING_REQUESTS = "x-ratelimit-remaining-requests"
REMAINING_TOKENS = "x-ratelimit-remaining-tokens"
LIMIT_REQUESTS = "x-ratelimit-limit-requests"
LIMIT_TOKENS = "x-ratelimit-limit-tokens"

# API Management subscriptions.
SUBSCRIPTION_KEY = "ocp-apim-subscription-key"
SUBSCRIPTION_KEY_QUERY = "subscription-key"

JSON = "application/json"
EVENT_STREAM = "text/event-stream"
