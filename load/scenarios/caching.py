"""caching — a workload with a configurable share of exact repeats and paraphrases.

    locust -f $(aigw load --print-locustfile caching) --headless -u 8 -r 8 -t 60s \\
        --host http://127.0.0.1:8080 --api-path /cached/openai --repeat-ratio 0.5 --paraphrase-ratio 0.2

Each request is, by a seeded draw: an exact repeat of a question this worker already asked
(``--repeat-ratio``), a paraphrase of one (``--paraphrase-ratio``: other framing, same question, which a
semantic cache should answer), or a question nobody asked yet. The gateway's verdict is read from its
cache header (``--cache-header``, aigw: ``x-aigw-cache: hit|miss|bypass``); Locust's stats split the
latency by it (request names ``chat [hit]`` / ``chat [miss]``), and the observations carry each request's
kind, verdict and latency so the analysis can report the hit ratio per kind and whether hits are faster.
"""

import random
import time

from locust import events, task

from aigw.load.locustlib import AigwUser, chat_body, scenario

RECORD = scenario("caching")
RECORD.declare("request", "t0", "ms", "status", "kind", "cache")
QUESTIONS = [
    "What is the capital of {}?", "Write a haiku about {}", "Explain how {} works",
    "Give me three facts about {}", "How many calories are in {}?", "What is the history of {}?",
]
SUBJECTS = ("France Japan Peru Kenya Norway bananas volcanoes glaciers tides lightning bridges compilers "
            "submarines violins espresso tulips penguins comets satellites lighthouses pyramids bicycles "
            "orchids thunderstorms avalanches hummingbirds telescopes windmills canals deserts").split()
FRAMINGS = ("Could you please tell me: {}", "{} Please answer briefly.", "I was wondering, {}",
            "Quick question - {}", "Can you help? {}")


@events.init_command_line_parser.add_listener
def _options(parser, **_kw) -> None:
    group = parser.add_argument_group("aigw caching")
    group.add_argument("--repeat-ratio", type=float, default=0.5, help="share of exact repeats (0..1)")
    group.add_argument("--paraphrase-ratio", type=float, default=0.2, help="share of paraphrased repeats (0..1)")


class CachingUser(AigwUser):
    def on_start(self) -> None:
        super().on_start()
        self.random = random.Random(f"{self.options.seed}:{self.index}")
        repeat, paraphrase = self.options.repeat_ratio, self.options.paraphrase_ratio
        if not (0 <= repeat <= 1 and 0 <= paraphrase <= 1 and repeat + paraphrase <= 1):
            raise ValueError("--repeat-ratio and --paraphrase-ratio must be in 0..1 and add up to at most 1")
        self.asked: list[str] = []

    def wait_time(self) -> float:
        return 0.0

    def _next_prompt(self) -> tuple[str, str]:
        draw = self.random.random()
        if self.asked and draw < self.options.repeat_ratio:
            return "repeat", self.random.choice(self.asked)
        if self.asked and draw < self.options.repeat_ratio + self.options.paraphrase_ratio:
            return "paraphrase", self.random.choice(FRAMINGS).format(self.random.choice(self.asked))
        first, second, third = self.random.sample(SUBJECTS, 3)
        words = f"{first}, {second} and {third}"
        question = self.random.choice(QUESTIONS).format(f"{words} #{self.index}x{self.sent}")
        self.asked.append(question)
        del self.asked[:-1000]  # repeats come from the recent past, as in real traffic
        return "fresh", question

    @task
    def chat(self) -> None:
        self.spend()
        kind, prompt = self._next_prompt()
        t0 = time.time()
        with self.client.post(self.operation_url("chat/completions"), json=chat_body(prompt, self.options.max_tokens),
                              headers=self.headers(), name="chat", catch_response=True) as response:
            ms = (time.time() - t0) * 1000
            cache = (response.headers.get(self.options.cache_header) or "none").lower() if response.headers else "none"
            response.request_meta["name"] = f"chat [{cache}]"
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}" if response.status_code else f"no response: {response.error}")
        RECORD.add("request", t0, ms, response.status_code, kind, cache)
