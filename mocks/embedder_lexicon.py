"""The small built-in lexicon behind the mock's embeddings (see ``aigw.mocks.embedder``).

Why a hand-written lexicon: the mock must give paraphrases a high cosine without shipping a language
model. Most paraphrases of chat prompts differ in *framing* ("What is…", "Tell me…", "Could you please
explain…"), in inflection, or in a handful of everyday synonyms. Dropping the framing words, stemming,
and folding the synonyms below onto one canonical word covers those cases; anything beyond this table is
deliberately out of reach (see the limits listed in ``embedder``'s docstring).

Changing anything here changes the vectors the mock returns. That is allowed (nothing persists them),
but the pinned components in ``tests/mocks/test_embedder.py`` will flag it so the change is deliberate.
"""

from __future__ import annotations

# Function words plus the question/politeness/filler words users wrap around the actual request.
# They carry (almost) no topic, so they get no vector of their own.
STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are as at be been before being below between both
    but by did do does doing down during each few for from further had has have having he her here hers
    herself him himself his i if in into is it its itself just let lets me more most my myself nor of off
    on once only or other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up very was we were
    what when where which while who whom whose why with you your yours yourself yourselves how whats
    s t d ll m re ve o y
    can could would will shall may might must
    please pls plz kindly tell say explain describe define clarify elaborate give show know wonder
    wondering curious want wanted wanting like love hey hi hello thanks thank thx dear assistant chatgpt
    ok okay um uh well also get got many much one whether
    """.split()
)

# Words that keep some meaning but mostly frame the request ("the *best way* to…", "the *difference*
# between…", "*information* about…"). They get a reduced weight (``LIGHT_WEIGHT`` in ``embedder``), so they
# neither dominate short texts nor break a paraphrase that omits them. Listed in canonical (stemmed) form.
LIGHT_WORDS: frozenset[str] = frozenset(
    """
    city thing stuff way kind type sort lot bit example step process information difference
    meaning good bad help need possible option idea tip list question answer really actually basically
    simply exactly not work bestpractice
    """.split()
)

# Irregular forms the suffix stripper cannot reach: form -> base form (before stemming).
IRREGULAR: dict[str, str] = {
    "bought": "buy", "went": "go", "gone": "go", "ran": "run", "wrote": "write", "written": "write",
    "made": "make", "took": "take", "taken": "take", "began": "begin", "begun": "begin", "ate": "eat",
    "eaten": "eat", "children": "child", "men": "man", "women": "woman", "people": "person",
    "mice": "mouse", "feet": "foot", "teeth": "tooth", "geese": "goose", "better": "good", "best": "good",
    "worse": "bad", "worst": "bad", "bigger": "big", "biggest": "big", "cannot": "not",
    "zero": "0", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
    "seven": "7", "eight": "8", "nine": "9", "ten": "10",
}

# Multi-word expressions folded to one word before anything else (matched on lowercase tokens).
PHRASES: dict[tuple[str, ...], str] = {
    ("capital", "city"): "capital",
    ("artificial", "intelligence"): "ai",
    ("machine", "learning"): "ml",
    ("united", "states"): "usa",
    ("united", "states", "of", "america"): "usa",
    ("united", "kingdom"): "uk",
    ("great", "britain"): "uk",
    ("new", "york", "city"): "nyc",
    ("new", "york"): "nyc",
    ("log", "in"): "login",
    ("sign", "in"): "login",
    ("log", "on"): "login",
    ("log", "out"): "logout",
    ("sign", "out"): "logout",
    ("e", "mail"): "email",
    ("web", "site"): "website",
    ("web", "page"): "website",
    ("cell", "phone"): "phone",
    ("mobile", "phone"): "phone",
    ("turn", "off"): "shutdown",
    ("switch", "off"): "shutdown",
    ("power", "off"): "shutdown",
    ("shut", "down"): "shutdown",
    ("turn", "on"): "poweron",
    ("switch", "on"): "poweron",
    ("power", "on"): "poweron",
    ("how", "come"): "why",
    ("low", "cost"): "cheap",
    ("motion", "picture"): "movie",
    ("best", "practice"): "bestpractice",
    ("best", "practices"): "bestpractice",
}

# Synonym groups: canonical word first. Inflections need not be listed; both sides are stemmed first.
SYNONYM_GROUPS: tuple[tuple[str, ...], ...] = (
    ("car", "automobile", "auto"),
    ("buy", "purchase", "acquire"),
    ("big", "large", "huge", "enormous"),
    ("small", "little", "tiny"),
    ("fast", "quick", "quickly", "rapid", "rapidly", "speedy"),
    ("start", "begin", "commence"),
    ("stop", "halt", "cease"),
    ("finish", "complete", "conclude"),
    ("fix", "repair", "resolve", "solve", "troubleshoot"),
    ("create", "make", "generate", "produce"),
    ("write", "compose", "draft"),
    ("movie", "film"),
    ("doctor", "physician"),
    ("happy", "glad", "joyful", "cheerful"),
    ("sad", "unhappy", "sorrowful"),
    ("smart", "intelligent", "clever"),
    ("cheap", "inexpensive", "affordable"),
    ("expensive", "costly", "pricey"),
    ("price", "cost", "pricing"),
    ("house", "home", "dwelling"),
    ("job", "occupation", "profession"),
    ("answer", "reply", "respond", "response"),
    ("question", "query", "inquiry"),
    ("problem", "issue", "trouble"),
    ("child", "kid"),
    ("person", "individual"),
    ("photo", "picture", "image", "photograph", "pic"),
    ("phone", "smartphone", "cellphone", "telephone"),
    ("computer", "pc"),
    ("uk", "britain"),
    ("usa", "america"),
    ("delete", "remove", "erase"),
    ("password", "passcode", "passphrase"),
    ("login", "signin", "logon"),
    ("translate", "translation"),
    ("difference", "differ", "different", "vs", "versus", "compare", "comparison", "distinguish"),
    ("meaning", "mean", "definition"),
    ("good", "great", "excellent", "nice", "top"),
    ("bad", "poor", "terrible", "awful"),
    ("easy", "simple", "straightforward"),
    ("hard", "difficult", "tough", "challenging"),
    ("old", "aged", "elderly"),
    ("new", "latest", "newest", "recent"),
    ("rich", "wealthy"),
    ("money", "cash", "funds"),
    ("country", "nation"),
    ("sick", "ill", "unwell"),
    ("talk", "speak", "converse"),
    ("find", "locate", "search", "lookup"),
    ("use", "utilize", "utilise", "usage"),
    ("need", "require", "requirement"),
    ("improve", "enhance", "boost"),
    ("increase", "raise"),
    ("decrease", "reduce", "lower", "lessen", "minimize", "minimise"),
    ("learn", "study"),
    ("trip", "journey", "voyage"),
    ("vacation", "holiday"),
    ("plane", "airplane", "aeroplane", "aircraft"),
    ("sofa", "couch"),
    ("shop", "store"),
    ("summarize", "summary", "summarise", "tldr", "recap", "synopsis"),
    ("lawyer", "attorney"),
    ("information", "info", "details"),
    ("dog", "canine", "puppy"),
    ("cat", "feline", "kitten"),
    ("temperature", "temp"),
    ("weather", "forecast"),
    ("way", "method", "approach"),
    ("example", "sample"),
    ("step", "instruction"),
)
