"""Deterministic SPS-like content: guidance articles and medicine monographs.

The seed loads it (``python -m gameday.site.seed``) and the load tests pick search terms from it::

    from gameday.site import catalog
    rows = list(catalog.generate())            # 2,000 dicts, ids 1..2000, identical on every run
    term = random.choice(catalog.POPULAR_TERMS)

Each dict has ``id, kind ("guidance" | "monograph"), slug, title, category, summary, body,
version`` (always 1). About 60% are guidance and 40% monographs; slugs are unique. The same
``(n, seed)`` always yields the same output, on every platform and Python version (only
:class:`random.Random` with an integer seed and fixed lists are used).
"""

from __future__ import annotations

import random
import re
from typing import Iterator

__all__ = [
    "MEDICINES",
    "CATEGORIES",
    "POPULAR_TERMS",
    "LONG_TAIL_TERMS",
    "MISSPELLINGS",
    "EMPTY_RESULT_TERMS",
    "generate",
    "slugify",
    "category_slug",
]

DEFAULT_N = 2000
DEFAULT_SEED = 20261124
GUIDANCE_SHARE = 0.6

# Real medicines commonly covered by UK medicines-advice services (generic names, lower case).
MEDICINES: tuple[str, ...] = (
    "abacavir", "acamprosate", "aciclovir", "adalimumab", "alendronic acid", "allopurinol",
    "amiodarone", "amitriptyline", "amlodipine", "amoxicillin", "anastrozole", "apixaban",
    "aripiprazole", "aspirin", "atenolol", "atorvastatin", "azathioprine", "azithromycin",
    "baclofen", "beclometasone", "bendroflumethiazide", "betahistine", "bisoprolol", "budesonide",
    "bumetanide", "buprenorphine", "candesartan", "carbamazepine", "carbimazole", "carvedilol",
    "cefalexin", "ciclosporin", "ciprofloxacin", "citalopram", "clarithromycin", "clobazam",
    "clonazepam", "clopidogrel", "clozapine", "co-amoxiclav", "codeine", "colchicine",
    "dabigatran", "dapagliflozin", "denosumab", "desmopressin", "dexamethasone", "diazepam",
    "diclofenac", "digoxin", "dihydrocodeine", "diltiazem", "domperidone", "donepezil",
    "doxycycline", "duloxetine", "edoxaban", "empagliflozin", "enalapril", "enoxaparin",
    "escitalopram", "esomeprazole", "ethinylestradiol", "etanercept", "ezetimibe", "fentanyl",
    "ferrous sulfate", "finasteride", "flucloxacillin", "fluconazole", "fluoxetine", "folic acid",
    "furosemide", "gabapentin", "gliclazide", "haloperidol", "hydrocortisone", "hydroxychloroquine",
    "ibuprofen", "indapamide", "insulin", "isotretinoin", "ivabradine", "lacosamide",
    "lamotrigine", "lansoprazole", "leflunomide", "letrozole", "levetiracetam", "levothyroxine",
    "linagliptin", "liraglutide", "lisinopril", "lithium", "loperamide", "loratadine",
    "lorazepam", "losartan", "mebeverine", "medroxyprogesterone", "melatonin", "memantine",
    "mercaptopurine", "mesalazine", "metformin", "methadone", "methotrexate", "methylphenidate",
    "metoclopramide", "metronidazole", "mirtazapine", "montelukast", "morphine", "mycophenolate",
    "naproxen", "nitrofurantoin", "nortriptyline", "olanzapine", "omeprazole", "ondansetron",
    "oxybutynin", "oxycodone", "pantoprazole", "paracetamol", "paroxetine", "phenytoin",
    "pioglitazone", "prednisolone", "pregabalin", "promethazine", "propranolol", "quetiapine",
    "ramipril", "ranitidine", "rifampicin", "risperidone", "rivaroxaban", "rosuvastatin",
    "salbutamol", "semaglutide", "senna", "sertraline", "simvastatin", "sitagliptin",
    "sodium valproate", "solifenacin", "spironolactone", "sulfasalazine", "tacrolimus", "tamoxifen",
    "tamsulosin", "temazepam", "terbinafine", "tiotropium", "topiramate", "tramadol",
    "trimethoprim", "valaciclovir", "vancomycin", "venlafaxine", "verapamil", "warfarin",
    "zolpidem", "zopiclone",
)

CATEGORIES: tuple[str, ...] = (
    "Pregnancy", "Breastfeeding", "Renal impairment", "Hepatic impairment", "Switching",
    "Care homes", "Paediatrics", "Safety", "Shortages", "Storage", "Administration",
    "Monitoring", "Older people",
)

# Medicine classes for "Switching between ..." guidance: (class label, members).
_CLASSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SSRIs", ("citalopram", "escitalopram", "fluoxetine", "paroxetine", "sertraline")),
    ("DOACs", ("apixaban", "dabigatran", "edoxaban", "rivaroxaban")),
    ("statins", ("atorvastatin", "rosuvastatin", "simvastatin")),
    ("proton pump inhibitors", ("esomeprazole", "lansoprazole", "omeprazole", "pantoprazole")),
    ("opioids", ("buprenorphine", "codeine", "fentanyl", "morphine", "oxycodone", "tramadol")),
    ("antipsychotics", ("aripiprazole", "haloperidol", "olanzapine", "quetiapine", "risperidone")),
    ("ACE inhibitors", ("enalapril", "lisinopril", "ramipril")),
    ("beta blockers", ("atenolol", "bisoprolol", "carvedilol", "propranolol")),
    ("SGLT2 inhibitors", ("dapagliflozin", "empagliflozin")),
    ("antiepileptics", ("carbamazepine", "lamotrigine", "levetiracetam", "sodium valproate")),
    ("benzodiazepines", ("clonazepam", "diazepam", "lorazepam", "temazepam")),
    ("angiotensin receptor blockers", ("candesartan", "losartan")),
)

# Guidance title templates: (template, category). {drug} is a medicine name, {Drug} capitalised.
_GUIDANCE_TEMPLATES: tuple[tuple[str, str], ...] = (
    ("Using {drug} in renal impairment", "Renal impairment"),
    ("Using {drug} in hepatic impairment", "Hepatic impairment"),
    ("Medicines in pregnancy: {drug}", "Pregnancy"),
    ("Safety in breastfeeding: {drug}", "Breastfeeding"),
    ("Storage of {drug} in care homes", "Care homes"),
    ("Storage and stability of {drug} outside the fridge", "Storage"),
    ("Administering {drug} via enteral feeding tubes", "Administration"),
    ("Crushing or dispersing {drug} tablets", "Administration"),
    ("{Drug} supply disruption: alternatives", "Shortages"),
    ("Monitoring requirements for {drug}", "Monitoring"),
    ("Using {drug} in children", "Paediatrics"),
    ("Prescribing {drug} for older people", "Older people"),
    ("Interactions and safety of {drug}", "Safety"),
)

_FORMS: tuple[str, ...] = (
    "tablets", "capsules", "oral solution", "solution for injection", "modified-release tablets",
    "oral suspension", "dispersible tablets", "suppositories",
)

_PARAGRAPHS: tuple[str, ...] = (
    "This page summarises the evidence on {drug} for {topic}. It is written for pharmacists, "
    "prescribers and other healthcare professionals working across primary and secondary care.",
    "Before starting {drug}, review the patient's current medicines, renal function and any "
    "history of adverse reactions. Consider whether a dose adjustment is needed for {topic}.",
    "The usual adult dose of {drug} may need to be reduced. Check the summary of product "
    "characteristics and local formulary guidance, and document the rationale for any change.",
    "Monitor the patient for effectiveness and side effects after any change in therapy. "
    "Advise the patient to report new symptoms promptly to their prescriber or pharmacist.",
    "Where {drug} is unavailable, a clinically appropriate alternative should be chosen with "
    "the multidisciplinary team. Consider formulation, licensing status and patient preference.",
    "Care home staff should follow the home's medicines policy when storing and administering "
    "{drug}. Record temperatures daily where refrigerated storage is required.",
    "Limited data are available for {drug} in {topic}. The decision to use it should weigh the "
    "expected benefit against potential risks, and be shared with the patient.",
    "When switching, a washout period may be needed to reduce the risk of interactions. Cross "
    "tapering can be appropriate for some patients; seek specialist advice if unsure.",
)

POPULAR_TERMS: tuple[str, ...] = (
    "apixaban", "metformin", "sertraline", "amoxicillin", "methotrexate", "paracetamol",
    "insulin", "warfarin", "omeprazole", "atorvastatin", "levothyroxine", "ramipril",
    "pregnancy", "renal impairment", "care homes", "switching", "shortage", "breastfeeding",
)

# Multi-word queries; each matches at least one generated article (default n and seed).
LONG_TAIL_TERMS: tuple[str, ...] = (
    "apixaban renal impairment", "sertraline pregnancy", "insulin storage care homes",
    "switching between SSRIs", "switching between DOACs", "crushing methotrexate tablets",
    "phenytoin enteral feeding tubes", "lithium pregnancy",
    "clozapine supply disruption", "sodium valproate pregnancy", "nitrofurantoin renal",
    "levetiracetam children", "enoxaparin solution for injection", "co-amoxiclav suspension",
    "dispersible aspirin tablets", "fentanyl renal impairment", "stability outside the fridge",
    "melatonin modified-release tablets", "warfarin monitoring requirements",
)

MISSPELLINGS: tuple[str, ...] = (
    "paracetamoll", "amoxicilin", "sertaline", "metfromin", "apixiban", "warfrin",
    "omeprazol", "levothyroxin", "atorvastatine", "methotrexat", "insuline", "ramiprill",
)

# Terms that match nothing in the catalogue, even with fuzziness AUTO.
EMPTY_RESULT_TERMS: tuple[str, ...] = (
    "qzxwvy", "zzyzx quux", "xylophonic wombat", "kjhgfdsa", "jabberwocky", "vvvqqq",
)


def slugify(text: str) -> str:
    """``"Using apixaban in renal impairment"`` -> ``"using-apixaban-in-renal-impairment"``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def category_slug(category: str) -> str:
    """URL slug of a category name (``/category/<slug>``)."""
    return slugify(category)


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def _guidance_pool() -> list[tuple[str, str, str, str]]:
    """Every guidance (title, category, drug, topic) combination, in a fixed order."""
    pool: list[tuple[str, str, str, str]] = []
    for label, members in _CLASSES:
        pool.append((f"Switching between {label}", "Switching", members[0], f"switching between {label}"))
        for a in members:
            for b in members:
                if a != b:
                    pool.append((f"Switching from {a} to {b}", "Switching", a, f"switching to {b}"))
    for drug in MEDICINES:
        for template, category in _GUIDANCE_TEMPLATES:
            title = template.format(drug=drug, Drug=_capitalise(drug))
            pool.append((title, category, drug, category.lower()))
    return pool


def _monograph_pool() -> list[tuple[str, str]]:
    """Every monograph (title, drug) combination, in a fixed order."""
    return [(f"{_capitalise(drug)} {form}", drug) for drug in MEDICINES for form in _FORMS]


def _body(rng: random.Random, drug: str, topic: str) -> str:
    count = rng.randint(3, 5)
    picks = rng.sample(range(len(_PARAGRAPHS)), count)
    return "\n\n".join(_PARAGRAPHS[i].format(drug=drug, topic=topic) for i in picks)


def generate(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> Iterator[dict]:
    """Yield ``n`` content dicts with ids ``1..n``; identical output for identical arguments."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = random.Random(seed)
    n_guidance = round(n * GUIDANCE_SHARE)
    kinds = ["guidance"] * n_guidance + ["monograph"] * (n - n_guidance)
    rng.shuffle(kinds)
    guidance = _guidance_pool()
    monographs = _monograph_pool()
    rng.shuffle(guidance)
    rng.shuffle(monographs)
    used_slugs: set[str] = set()
    counters = {"guidance": 0, "monograph": 0}
    for article_id, kind in enumerate(kinds, start=1):
        i = counters[kind]
        counters[kind] += 1
        if kind == "guidance":
            title, category, drug, topic = guidance[i % len(guidance)]
            summary = f"Practical advice for healthcare professionals on {topic} with {drug}."
        else:
            title, drug = monographs[i % len(monographs)]
            category = rng.choice(CATEGORIES)
            topic = category.lower()
            summary = f"Medicine monograph: {title.lower()}, including {topic} considerations."
        lap = i // (len(guidance) if kind == "guidance" else len(monographs))
        if lap:  # only when n exceeds the pool: keep titles (and slugs) unique
            title = f"{title} (edition {lap + 1})"
        slug = slugify(title)
        if slug in used_slugs:
            slug = f"{slug}-{article_id}"
        used_slugs.add(slug)
        yield {
            "id": article_id,
            "kind": kind,
            "slug": slug,
            "title": title,
            "category": category,
            "summary": summary,
            "body": _body(rng, drug, topic),
            "version": 1,
        }
