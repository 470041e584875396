"""The heuristic classifier's cue tables: plain data, apart from the scoring code that reads them.

`routed_llm.classify.heuristic` compiles these once at import into one regular expression
and scores texts with them; its docstring says how each table counts. Change the tables
here to tune what the classifier notices, without touching how it scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, NamedTuple

from routed_llm.types import Complexity, Task

__all__ = [
    "COMPLEXITY_CUES",
    "COMPLEXITY_LEVELS",
    "CONFIDENTIAL_MARKERS",
    "INSTRUCTION_WINDOW",
    "INTERNAL_MARKERS",
    "TASK_CUES",
    "TASK_PRIORITY",
    "Cue",
]


class Cue(NamedTuple):
    """One entry of a cue table.

    ``pattern`` is a regex fragment matched against the lower-cased text at the
    start of a word. It may use ``|`` at top level, must not contain capturing
    groups, and each top-level alternative should start with a literal letter
    or digit (others still work but are slower to scan for).
    """

    label: str
    """Short human-readable name, used in `Classification.signals`."""
    pattern: str
    """Regex fragment, lower case, non-capturing groups only."""
    weight: int = 1
    """Points the cue adds (once per text, however often it occurs)."""


# --------------------------------------------------------------------------- tables

_CODE_NOUNS = (
    r"(?:function|method|class|script|program|regex|query|unit tests?|tests?|module|endpoint"
    r"|snippet|code|algorithm|component|decorator|cli|api|parser|dockerfile|makefile)"
)
_LANGUAGES = (
    r"(?:python|javascript|typescript|rust|golang|go|java|kotlin|swift|ruby|php|c\+\+|c#"
    r"|scala|haskell|bash|shell|sql|powershell|elixir|dart|lua|perl|r)(?![a-z0-9+#])"
)

TASK_CUES: Final[Mapping[Task, tuple[Cue, ...]]] = {
    Task.CODE: (
        Cue(
            "write code",
            r"write (?:me )?(?:(?:a|an|the|some|this) )?(?:[a-z+#-]+ ){0,3}?" + _CODE_NOUNS + r"\b",
            3,
        ),
        Cue("implement", r"implement(?:s|ed|ing|ation)?\b", 2),
        Cue("refactor", r"refactor", 3),
        Cue("debug", r"debug", 3),
        Cue(
            "fix a bug",
            r"fix (?:this|the|my|a|that|these) (?:[a-z]+ )?(?:bugs?|code|errors?|tests?"
            r"|exceptions?|crash(?:es)?|functions?|segfault|memory leak)\b",
            3,
        ),
        Cue(
            "stack trace",
            r"stack ?trace|traceback \(most recent call last\)|exception in thread"
            r"|segmentation fault|panicked at|uncaught (?:type|reference|syntax)?error",
            3,
        ),
        Cue("language", r"in " + _LANGUAGES, 2),
        Cue(
            "code terms",
            r"(?:this|my|the|following|your) code\b|compil(?:e|er|ation) error"
            r"|syntax error|unit tests?\b|pull request|code review|codebase|regex\b|sql query"
            r"|api endpoint|unit-test|null pointer|type ?error\b|linter"
            r"|git (?:merge|rebase|commit)",
            1,
        ),
    ),
    Task.CLASSIFICATION: (
        Cue("classify", r"classif(?:y|ies|ied|ication)\b", 3),
        Cue("categorize", r"categori[sz](?:e|es|ed|ing|ation)\b", 3),
        Cue("label", r"label (?:this|these|each|every|the following|them|it)\b", 3),
        Cue("sentiment", r"sentiment", 3),
        Cue("which category", r"which (?:category|class|label|bucket|type|one of the)\b", 3),
        Cue("yes or no", r"yes or no|yes/no|true or false|true/false", 2),
        Cue("intent", r"intents?\b", 2),
        Cue(
            "spam/toxic",
            r"spam\b|toxic(?:ity)?\b|is (?:this|it) (?:positive|negative|spam|toxic"
            r"|offensive|relevant)\b",
            2,
        ),
        Cue("polarity", r"positive,? (?:or )?negative|positive, negative,? (?:or )?neutral", 3),
        Cue(
            "one label",
            r"one of the following (?:categories|labels|classes|options)"
            r"|respond with (?:only )?(?:one|a single) (?:word|label|category)",
            3,
        ),
        Cue("tag", r"tag (?:this|each|these|the following)\b", 2),
    ),
    Task.EXTRACTION: (
        Cue("extract", r"extract", 3),
        Cue("pull out", r"pull out", 3),
        Cue(
            "list all ... from",
            r"list (?:all|every|each)\b[^.?!\n]{0,60}?\b(?:from|in) "
            r"(?:the|this|these|that|following|below|above)\b",
            3,
        ),
        Cue(
            "parse into JSON",
            r"parse\b[^.?!\n]{0,60}?\binto (?:a )?(?:json|structured|table|csv"
            r"|yaml|fields)",
            3,
        ),
        Cue("fill the fields", r"fill (?:in |out )?the (?:fields|form|template|schema|slots)", 3),
        Cue(
            "find all",
            r"find (?:all|every) (?:the )?(?:names|dates|emails|email addresses"
            r"|phone numbers|addresses|amounts|entities|mentions|urls|links|numbers|people"
            r"|companies|prices)\b",
            3,
        ),
        Cue("named entities", r"named entit|entities\b", 2),
        Cue(
            "as JSON",
            r"(?:as|in|into|to) (?:a )?json\b|json (?:object|schema|format)"
            r"|structured (?:data|output)",
            1,
        ),
    ),
    Task.SUMMARIZATION: (
        Cue("summarize", r"summari[sz]", 3),
        Cue("summary", r"summary|summaries", 3),
        Cue("tl;dr", r"tl;? ?dr", 3),
        Cue("condense", r"condense", 3),
        Cue(
            "key points",
            r"key (?:points|takeaways|ideas|findings)|main (?:points|ideas|takeaways)",
            2,
        ),
        Cue("recap", r"recap|gist\b|synopsis|boil (?:it |this )?down", 2),
        Cue(
            "length limit",
            r"shorten|in (?:one|two|three|a few|[0-9]) (?:sentences?|bullet|lines)",
            1,
        ),
    ),
    Task.REASONING: (
        Cue("why", r"why\b", 1),
        Cue("prove", r"prove\b|proof\b", 2),
        Cue("step by step", r"step[ -]by[ -]step", 2),
        Cue("analyze", r"analy[sz]", 2),
        Cue("compare", r"compar(?:e|es|ing|ison)\b", 2),
        Cue("plan", r"plan(?:s|ning)?\b", 1),
        Cue("design", r"design\b", 1),
        Cue("trade-offs", r"trade-?offs?\b|pros and cons", 2),
        Cue("derive", r"deriv(?:e|ation)\b", 2),
        Cue("reason", r"reason(?:ing)?\b", 1),
        Cue("explain why", r"explain (?:why|how)\b", 2),
        Cue("think through", r"think (?:through|carefully|step)|walk me through", 2),
        Cue("evaluate", r"evaluat(?:e|ion)\b|assess\b|critique", 1),
        Cue("what if", r"what (?:would|will) happen if|what if\b", 1),
        Cue("solve", r"solve\b|calculate\b|how many\b|puzzle|riddle", 1),
        Cue("decide", r"should (?:i|we)\b|which is better|decide\b", 1),
    ),
}
"""Task cue tables; the code fence and code-looking lines are detected separately."""

TASK_PRIORITY: Final[tuple[Task, ...]] = (
    Task.CODE,
    Task.CLASSIFICATION,
    Task.EXTRACTION,
    Task.SUMMARIZATION,
    Task.REASONING,
    Task.CHAT,
)
"""Tie-break order: the more specific task first; REASONING cues are the most generic."""

COMPLEXITY_CUES: Final[tuple[Cue, ...]] = (
    Cue("step by step", r"step[ -]by[ -]step", 2),
    Cue("prove", r"prove\b|proof\b|formally verif|rigorous", 2),
    Cue("derive", r"deriv(?:e|ation)\b|from first principles", 2),
    Cue("multi-step", r"multi-?(?:step|stage|hop|phase)", 2),
    Cue("architecture", r"architect", 2),
    Cue("trade-offs", r"trade-?offs?\b", 2),
    Cue("concurrency", r"concurren|race conditions?|deadlock|thread-safe|lock-free", 2),
    Cue("distributed", r"distributed|consensus|multi-region|fault[- ]toleran", 2),
    Cue("design", r"design\b", 1),
    Cue("edge cases", r"edge cases?|corner cases?", 1),
    Cue("optimize", r"optimi[sz]", 1),
    Cue("security", r"security|threat model|vulnerab", 1),
    Cue("failure modes", r"failure modes?|resilien|high availability", 1),
    Cue("scalability", r"scalab|throughput|latency", 1),
    Cue("performance", r"performance|time complexity|big-?o\b", 1),
    Cue("in depth", r"in (?:depth|detail)|comprehensive|thorough|exhaustive|detailed", 1),
    Cue("constraints", r"constraints?\b|requirements?\b|must (?:handle|support|be)\b", 1),
    Cue("analysis", r"analy[sz]|compar(?:e|es|ing|ison)\b|evaluat(?:e|ion)\b|justify", 1),
    Cue("migration", r"migrat|backward[- ]compat", 1),
    Cue("benchmark", r"benchmark|profil(?:e|ing)\b", 1),
    Cue("production", r"production[- ](?:ready|grade)", 1),
)
"""Reasoning and constraint cues; each distinct one adds its weight to the complexity score."""

CONFIDENTIAL_MARKERS: Final[tuple[Cue, ...]] = (
    Cue("confidential", r"confidential\b"),
    Cue(
        "privileged",
        r"privileged (?:and|&) confidential|legally privileged|attorney[- ]client"
        r"|privileged communication",
    ),
    Cue("secret", r"top secret|trade secrets?\b"),
)
"""Explicit markers that make a text CONFIDENTIAL even without detected PII."""

INTERNAL_MARKERS: Final[tuple[Cue, ...]] = (
    Cue(
        "internal only",
        r"internal[- ]only|internal use|for internal|internal purposes"
        r"|company[- ]internal",
    ),
    Cue(
        "do not share",
        r"do not (?:share|distribute|forward|disclose)|don't (?:share|distribute"
        r"|forward)|not for (?:distribution|external|public)",
    ),
    Cue("proprietary", r"proprietary"),
    Cue("NDA", r"nda\b|non-disclosure"),
    Cue("restricted", r"restricted (?:distribution|access)|need[- ]to[- ]know"),
)
"""Explicit markers that make a text INTERNAL (unless it is CONFIDENTIAL anyway)."""

COMPLEXITY_LEVELS: Final[tuple[tuple[int, Complexity], ...]] = (
    (5, Complexity.COMPLEX),
    (2, Complexity.MEDIUM),
    (0, Complexity.SIMPLE),
)
"""``(minimum score, level)`` pairs, checked in order."""

INSTRUCTION_WINDOW: Final = 200
"""Characters at each end of a text where a task cue scores one extra point."""
