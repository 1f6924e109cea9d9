"""Request paths an attacker tries on a gateway, and what each may become.

``ESCAPES`` aim at the backend's admin API (``/_mock/...``) or another surface of the backend from under
an API's prefix; a gateway must refuse every one or keep it inside the API it was addressed to.
``CHAT_VARIANTS`` spell the chat operation of deployment gpt-4o in other ways, to slip past per-operation
policies (token limits, cache, content safety); each must be refused or served *as* that operation.
Encoded, double- and triple-encoded, mixed-case, ``;`` parameters, backslashes, NUL, merged slashes.
"""

Q = "?api-version=2024-10-21"

ESCAPES = [
    "/openai/../_mock/config",
    "/openai/%2e%2e/_mock/config",
    "/openai/%2E%2E/_mock/config",
    "/openai/%2e%2E/_mock/config",
    "/openai/.%2e/_mock/config",
    "/openai/%2e./_mock/health",
    "/openai/..%2f_mock/config",
    "/openai/..%2F_mock/config",
    "/openai/%2e%2e%2f_mock%2fconfig",
    "/openai/%252e%252e/_mock/config",
    "/openai/%25252e%25252e/_mock/config",
    "/openai/..%252f_mock/config",
    "/openai/%252E%252E%252F_mock/health",
    "/openai/..;/_mock/config",
    "/openai/..;x=1/_mock/config",
    "/openai/.;/../_mock/config",
    "/openai/..\\_mock\\config",
    "/openai/..%5c_mock%5cconfig",
    "/openai/..%5C_mock/config",
    "/openai/deployments/../../_mock/config",
    "/openai/deployments/gpt-4o/../../../_mock/reset",
    "/openai/./../_mock/config",
    "//openai/../_mock/config",
    "/openai//../_mock/config",
    "/openai/%00/../_mock/config",
    "/openai/%2e%2e%00/_mock",
    "/OPENAI/../_mock/config",
    "/Openai/%2E%2e/_mock/health",
    "/openai/deployments/gpt-4o/chat/completions/../../../../../_mock/config",
    "/openai/../v1/chat/completions",
    "/openai/%2e%2e/mcp",
    "/mcp/../_mock/config",
    "/mcp/%2e%2e/_mock/config",
    "/mcp/..%2f_mock/config",
    "/a2a/../_mock/faults",
    "/a2a/..%2f_mock/config",
    "/a2a/%2e%2e/%2e%2e/_mock/health",
    "/.well-known/agent-card.json/../../_mock/config",
    "/../_mock/config",
    "/%2e%2e/_mock/health",
]

CHAT_VARIANTS = [
    "/openai/deployments/x/../gpt-4o/chat/completions",
    "/openai/deployments/x/%2e%2e/gpt-4o/chat/completions",
    "/openai/deployments/x/%2E%2E/gpt-4o/chat/completions",
    "/openai/deployments/x/..%2fgpt-4o/chat/completions",
    "/openai/deployments/gpt-4o/./chat/completions",
    "/openai/deployments/gpt-4o/%2e/chat/completions",
    "/openai/deployments/gpt-4o/chat/completions/",
    "/openai/deployments/gpt-4o/chat/completions/.",
    "/openai/deployments/gpt-4o/chat/completions/%2e",
    "/openai/deployments/gpt-4o/chat//completions",
    "/openai//deployments/gpt-4o/chat/completions",
    "/openai/deployments/gpt-4o;v=1/chat/completions",
    "/openai/deployments/gpt-4o/chat/completions;x",
    "/openai/deployments/%67pt-4o/chat/completions",
    "/openai/deployments/gpt%2D4o/chat/completions",
    "/openai/deployments/gpt%2d4o/chat%2fcompletions",
    "/openai/deployments/gpt-4o/chat%2Fcompletions",
    "/openai/deployments/gpt-4o/chat/completions%3F",
    "/openai/deployments/GPT-4O/chat/completions",
    "/openai/deployments/gpt-4o/CHAT/completions",
    "/openai/deployments/gpt-4o/chat/completions%20",
    "/openai/deployments/gpt-4o/chat/completions%00",
    "/openai/deployments/gpt-4o\\chat\\completions",
    "/openai/deployments/gpt-4o%5Cchat%5Ccompletions",
    "/openai/deployments/gpt-4o/chat/completions/..;/completions",
    "/openai/deployments/%252e%252e/gpt-4o/chat/completions",
    "/openai/%2564eployments/gpt-4o/chat/completions",
]

ALL = ESCAPES + CHAT_VARIANTS
