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
    "CLINICAL_TERMS",
    "CONFIDENTIAL_MARKERS",
    "DOCUMENT_CONTEXTS",
    "HEALTH_TIES",
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


# --------------------------------------------------------------------------- confidential records
#
# The tables below are read by `routed_llm.classify.records`: lower-case regex fragments
# matched at a word start, no capturing groups. A context word alone never makes a call
# confidential: it only tells the record detectors which number formats to look for near it.

DOCUMENT_CONTEXTS: Final[Mapping[str, str]] = {
    "passport": (
        r"passports?\b|passport-?(?:nr|no|number)|reisepass\w*|passnummer|pass-?nr\b|passeport|pasaporte"
        r"|passaporto|paspoort|paszport|pasaport|passaporte"
    ),
    "licence": (
        r"driver'?s? ?licen[cs]e|drivers licen[cs]e|driving licen[cs]e|driving permit"
        r"|dl ?(?:no|number|#)|dl:|führerschein\w*|fuehrerschein\w*|permis de conduire|carnet de conducir"
        r"|permiso de conducir|licencia de conducir|patente di guida|numero (?:di )?patente|rijbewijs\w*"
        r"|prawo jazdy"
    ),
    "ssn": (
        r"ssns?\b|social security(?: number| no| #)?|soc\.? ?sec\b|sozialversicherungsnummer|sv-nummer"
        r"|rentenversicherungsnummer"
    ),
    "sin": r"sin\b|social insurance|nas\b|num[ée]ro d'assurance sociale|assurance sociale",
    "bsn": r"bsn\b|burgerservicenummer|sofi-?nummer|citizen service number",
    "aadhaar": r"aadhaa?r|aadhar|uidai|uid\b|आधार",
    "idcard": (
        r"id[- ]?cards?\b|identity (?:cards?|no|number|document)|national id\w*|national identity"
        r"|personal id(?:entity)? (?:no|number|code)|citizen id|personalausweis\w*|ausweis(?:nummer|-nr| nr)?\b"
        r"|identiteitskaart|id-kaart|carte d'identit[ée]|carte nationale d'identit[ée]|cni\b"
        r"|documento de identidad|carta d'identit[àa]|dowód osobisty|personnummer|henkilötunnus"
    ),
    "nir": (
        r"nir\b|n° de s[ée]curit[ée] sociale|num[ée]ro de s[ée]curit[ée] sociale|s[ée]curit[ée] sociale"
        r"|s[ée]cu\b|carte vitale|insee\b"
    ),
    "pesel": r"pesel",
    "taxid": (
        r"tax (?:id|identification|number|no|file number|reference|code)\b|taxpayer (?:id|number)|tin\b|tfn\b"
        r"|utr\b|nif\b|num[ée]ro fiscal|num[ée]ro d'identification fiscale"
        r"|steuernummer|codice fiscale|n[úu]mero de identificaci[óo]n fiscal"
        r"|itins?\b|pan\b|pan card|permanent account number"
    ),
    "steuerid": r"steuer-?id\w*|steuer-?identifikations\w*|identifikationsnummer|idnr\b",
    "mrn": (
        r"mrn\b|medical record|patient (?:id|number|no\b|#)|chart (?:number|no\b|#)|hospital (?:number|no\b)"
        r"|fallnummer|patientennummer|patienten-id|patiëntnummer|num[ée]ro de dossier|dossier m[ée]dical"
        r"|historia cl[íi]nica|nhc\b|cartella clinica"
    ),
    "nhs": r"nhs\b|chi number",
    "plan": (
        r"medicare|medicaid|health ?plan|health insurance|mbi\b|krankenversichertennummer|kvnr\b|krankenkasse"
        r"|carte vitale|mutuelle|tarjeta sanitaria|n[úu]mero de afiliaci[óo]n|tessera sanitaria|zorgverzekering"
        r"|ehic\b|beneficiary (?:id|number)"
    ),
    "member": (
        r"member (?:id|number|no\b|#)|subscriber (?:id|number|no\b)|policy (?:id|number|no\b|#)"
        r"|group (?:number|no\b|#)|insurance (?:id|number|no\b|card)|versichertennummer|versicherungsnummer"
        r"|polisnummer|n° d'adhérent"
    ),
}
"""Words that announce an identity document or a health record, by family.

``member`` ids (member, policy, group numbers) count only in a text that also speaks of
health (`CLINICAL_TERMS` or a health-insurance word): a gym's member number is not a health record.
"""

CLINICAL_TERMS: Final = (
    # English: findings, orders and results
    r"diagnos(?:is|es|ed)\b|dx\b|prognos\w*|prescri(?:be|bed|bes|bing|ption|ptions)\b|medications?\b|meds\b"
    r"|dosage|lab results?"
    r"|blood (?:test|work|results|sugar|pressure|count|panel)\w*|biops\w*|mri\b|ct scan"
    r"|x-?rays?\b|ultrasound|mammogram|hba1c|a1c\b|ldl\b|cholesterol|glucose|creatinine|egfr\b"
    r"|tsh\b|ha?emoglobin|wbc\b|platelets?|viral load|cd4\b|chemo\w*|radiotherapy|dialysis"
    # conditions
    r"|diabet\w*|cancer|tumou?rs?\b|carcinoma|leuka?emia|lymphoma|melanoma|hiv\b|hepatitis"
    r"|depressi\w*|anxiety|bipolar|schizophreni\w*|adhd\b|autis\w*|asthma|hypertension"
    r"|high blood pressure|epilep\w*|dementia|alzheimer\w*|parkinson\w*|pregnan\w*|miscarriage|abortion"
    r"|stds?\b|stis?\b|chlamydia|gonorrh\w*|syphilis|herpes|covid\w*|stroke|heart attack|heart failure"
    r"|copd\b|arthritis|ptsd\b|anorexia|bulimia|addiction|alcoholism|overdose|sclerosis|crohn\w*|colitis"
    r"|kidney disease|lupus|coeliac|celiac|hypothyroid\w*|infertil\w*|tuberculosis"
    # medicines
    r"|metformin|insulin|lisinopril|atorvastatin|simvastatin|sertraline|fluoxetine|escitalopram"
    r"|citalopram|bupropion|prozac|zoloft|lexapro|xanax|alprazolam|lorazepam|diazepam|adderall|ritalin"
    r"|methylphenidate|ozempic|semaglutide|wegovy|mounjaro|levothyroxine|amlodipine|omeprazole"
    r"|prednis\w*|warfarin|apixaban|eliquis|methotrexate|truvada|quetiapine|olanzapine"
    r"|risperidone|gabapentin|oxycodone|hydrocodone|tramadol|morphine|methadone|buprenorphine|suboxone"
    r"|antidepressants?|antibiotics?|antiretroviral\w*|statins?\b"
    # doses: "500 mg", "10mg", "2.5 ml"
    r"|[0-9]+(?:[.,][0-9]+)? ?(?:mg|mcg|µg)\b"
    # German
    r"|diagnosen\b|diagnostiziert|befund\w*|verschrieben|verordnet|blutwerte|laborwerte"
    r"|blutzucker|blutdruck|krebs\w*|schwanger\w*|zuckerkrankheit|medikament\w*|depressionen"
    # French
    r"|diagnostiqu[ée]\w*|ordonnance|analyses? (?:de sang|sanguines?)|bilan sanguin|glycémie|diabète|tumeur"
    r"|dépression|enceinte|grossesse|médicament\w*|séropositi\w*"
    # Spanish
    r"|diagnóstico|diagnosticad\w*|diagnosticaron|recetad\w*|recetaron|análisis de sangre|analítica|glucosa|cáncer"
    r"|depresión|embarazada|embarazo|medicamento\w*|hipertensi[óo]n"
    # Italian
    r"|diagnosi\b|diagnosticat\w*|prescritt\w*|esami del sangue|analisi del sangue|glicemia"
    r"|diabete\b|cancro|tumore|depressione|incinta|gravidanza|farmac[oi]\b|ipertensione"
    # Dutch
    r"|gediagnosticeerd|voorgeschreven|bloeduitslag\w*|bloedonderzoek|suikerziekte|kanker|zwanger"
    r"|medicijn\w*"
)
"""Diagnoses, prescriptions, medicines, doses and lab results (EN, DE, FR, ES, IT, NL).

A clinical term alone is a medical question, not a record: it makes a call confidential
only when it is tied to a person by one of `HEALTH_TIES` (or a medical record or
health-plan number is present).
"""

HEALTH_TIES: Final[Mapping[str, str]] = {
    # "my diagnosis", "my mother ... diabetes": a possessive at most two words before the term.
    "possessive": r"\b(?:my|mein(?:e|en|em|er)?|mon|ma|mes|mi|mis|mio|mia|miei|mie|mijn)\b",
    # "I was diagnosed", "I have type 2 diabetes", "I'm on 500 mg": at most two words before the term.
    "first person": (
        r"\bi(?:'m| am| was| have| had|'ve| got| take| took| started| need| suffer(?: from)?| tested)\b"
        r"|\bich (?:habe|hatte|bin|nehme|leide|wurde)\b|\bbei mir\b|\bj'ai\b|\bje (?:suis|prends|souffre)\b"
        r"|\bm'a\b|\bon m'a\b|\b(?:tengo|tomo|padezco|estoy)\b|\bme\b(?= (?:diagnosticaron|recetaron|han))"
        r"|\b(?:ho|prendo|soffro)\b|\bmi (?:hanno|è)\b|\bik (?:heb|neem|ben|gebruik)\b"
        r"|\b(?:diagnosed|prescribed|gave|put|started) me\b"
    ),
    # "my father has been taking warfarin": a relative or patient in the same sentence.
    "relative": (
        r"\bmy (?:mom|mum|mother|dad|father|wife|husband|son|daughter|child|kid|baby|brother|sister|partner"
        r"|boyfriend|girlfriend|grandma|grandmother|grandpa|grandfather|aunt|uncle|patient|client)s?\b"
        r"|\bour patients?\b"
        r"|\bmein(?:e|em|er)? (?:mutter|vater|frau|mann|sohn|tochter|kind|bruder|schwester|patient\w*)"
        r"|\b(?:mon|ma) (?:mère|père|femme|mari|fils|fille|enfant|frère|s(?:œ|oe)ur|patient\w*)"
        r"|\bmi (?:madre|padre|esposa|esposo|marido|hijo|hija|hermano|hermana|paciente)"
        r"|\b(?:mio|mia) (?:madre|padre|moglie|marito|figlio|figlia|fratello|sorella|paziente)"
        r"|\bmijn (?:moeder|vader|vrouw|man|zoon|dochter|kind|broer|zus|patiënt)"
    ),
    # A record: patient fields, a date of birth (anywhere in the same text).
    "record": (
        r"\bpatient(?:in|e|a)?\s*(?:name\s*)?[:#]|\bpt\s*[:#]|\bname\s*:|\bnom\s*:|\bnombre\s*:"
        r"|\b(?:dob|d\.o\.b|date of birth|birth ?date|born on|geburtsdatum|geb\.|date de naissance"
        r"|née? le|fecha de nacimiento|data di nascita|geboortedatum)"
    ),
}
"""What ties a clinical term to a person, by kind (lower-case regex fragments)."""
