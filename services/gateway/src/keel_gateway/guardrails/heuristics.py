"""Fast prompt-injection / jailbreak heuristics: weighted patterns over a normalised text
(case-folded, zero-width characters removed, leetspeak undone, spaced-out letters joined).
Each pattern carries a score; the rail fires when the best score reaches its threshold."""

from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
# Cyrillic and Greek letters that look like Latin ones (a Cyrillic "o" inside "ignore").
_CONFUSABLES = str.maketrans(
    "аеорсухіјѕԁɡһӏոѵᴡαеіοκντуΑΒΕΖΗΙΚΜΝΟΡΤΥΧАВЕКМНОРСТХІЈЅ",
    "aeopcyxijsdghlnvwaeioknTyABEZHIKMNOPTYXABEKMHOPCTXIJS",
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_SPACED = re.compile(r"\b(?:\w[ .\-_*]){3,}\w\b")


def normalise(text: str) -> str:
    t = unicodedata.normalize("NFKC", text).translate(_ZERO_WIDTH)
    # Only fold look-alikes inside words that are mostly Latin, so real Russian text stays Russian.
    t = re.sub(r"\w+", lambda m: _fold(m.group()), t).lower()
    # "i g n o r e" → "ignore"
    t = _SPACED.sub(lambda m: re.sub(r"[ .\-_*]", "", m.group()), t)
    return re.sub(r"\s+", " ", t)


def _fold(word: str) -> str:
    latin = sum("a" <= c.lower() <= "z" for c in word)
    return word.translate(_CONFUSABLES) if latin and latin * 2 >= len(word) - latin else word


def deleet(text: str) -> str:
    return text.translate(_LEET)


_W = r"(?:\w+ ){0,3}"  # up to three filler words
_PATTERNS: list[tuple[str, float, str]] = [
    # Instruction override
    (
        rf"\b(?:ignore|disregard|forget|skip|override|bypass|drop|abandon)\b {_W}"
        rf"(?:all |any |the |your |my |these |those )?(?:previous|prior|above|earlier|preceding|former|"
        rf"original|initial|system|developer|safety|existing)\b {_W}?"
        rf"(?:instructions?|prompts?|rules?|directives?|guidelines?|constraints?|context|messages?|"
        rf"programming|restrictions?|polic(?:y|ies)|guardrails?)",
        0.95,
        "instruction_override",
    ),
    (
        r"\b(?:ignore|disregard|forget) (?:everything|all|anything) (?:(?:that )?(?:you were|you've been|"
        r"i|we) (?:told|said|given)|(?:above|before|prior|so far))",
        0.9,
        "instruction_override",
    ),
    (
        r"\b(?:new|updated|real|actual|true) (?:system )?(?:instructions?|rules|directives?|prompt)\b ?[:\-]",
        0.75,
        "instruction_override",
    ),
    # System prompt extraction
    (
        r"\b(?:reveal|show|print|output|display|repeat|reproduce|dump|leak|tell me|give me|share|"
        r"write out|recite|spell out)\b (?:\w+ ){0,4}(?:system|hidden|secret|initial|original|internal|"
        r"developer|pre-?)[ -]?(?:prompt|instructions?|message|rules|configuration|guidelines)",
        0.9,
        "prompt_extraction",
    ),
    (
        r"\b(?:repeat|print|output|copy) (?:\w+ ){0,3}(?:words|text|everything|all) (?:\w+ ){0,2}"
        r"(?:above|before this|preceding|verbatim)",
        0.85,
        "prompt_extraction",
    ),
    (
        r"\bwhat (?:is|was|were) your (?:system prompt|initial instructions|original instructions)",
        0.85,
        "prompt_extraction",
    ),
    # Persona / mode jailbreaks
    (r"\b(?:dan|stan|dude|aim|evil ?bot|jailbroken?|jailbreak)\b (?:mode|prompt|persona)?", 0.6, "persona"),
    (r"\bdo anything now\b", 0.95, "persona"),
    (
        r"\b(?:developer|god|debug|admin|sudo|unrestricted|unfiltered|uncensored|maintenance|root|dev) "
        r"mode\b",
        0.85,
        "persona",
    ),
    (
        r"\b(?:you are|you're|act as|pretend (?:to be|you are)|roleplay as|become|behave like) (?:now )?"
        r"(?:an? )?(?:\w+ ){0,3}(?:ai|assistant|model|chatbot|bot|llm|entity|version)\b (?:\w+ ){0,3}"
        r"(?:without|with no|free (?:of|from)|that (?:has no|ignores|doesn't follow)|not bound by) "
        r"(?:\w+ ){0,2}(?:restrictions?|limits?|limitations?|rules|filters?|guidelines|ethics|"
        r"censorship|polic(?:y|ies)|boundaries)",
        0.95,
        "persona",
    ),
    (
        r"\b(?:no|without|free of|free from|ignore) (?:\w+ ){0,2}(?:ethical|moral|safety|content) "
        r"(?:guidelines|restrictions|filters|constraints|polic(?:y|ies)|limits)",
        0.7,
        "persona",
    ),
    # Refusal suppression / prefix injection
    (
        r"\b(?:never|don't|do not|must not|cannot|can't) (?:ever )?(?:refuse|decline|say (?:no|that you "
        r"can(?:'|no)t|you can't|sorry)|apologi[sz]e|warn me|add (?:any )?(?:warnings?|disclaimers?))",
        0.7,
        "refusal_suppression",
    ),
    (
        r"\b(?:start|begin) (?:your )?(?:answer|response|reply) with ['\"]?(?:sure|absolutely|of course)",
        0.8,
        "prefix_injection",
    ),
    # Authority spoofing
    (
        r"(?:^|\W)(?:\[|<|#+ ?|\{)?(?:system|admin|developer|root|openai|anthropic)(?: message| override| "
        r"notice| note)?(?:\]|>|\}|:)\s*(?:\w+ ){0,6}(?:ignore|disregard|override|new in"
        r"structions|you (?:must|"
        r"will|are now))",
        0.9,
        "authority_spoofing",
    ),
    (r"<\|?(?:im_start|im_end|system|endoftext)\|?>", 0.9, "token_smuggling"),
    (
        r"\b(?:this is|i am|i'm) (?:your|the|an?) (?:developer|creator|admin(?:istrator)?|openai|"
        r"system operator)\b(?:\w+ ){0,6}(?:override|disable|ignore|unlock|authori[sz]e)",
        0.85,
        "authority_spoofing",
    ),
    (
        r"\b(?:ignore|disregard|forget|set aside|drop|discard|cancel|bypass|abandon|throw out) "
        r"(?:all |any |the |your |of your |whatever )?(?:\w+ ){0,2}(?:instructions|guidelines|rules|"
        r"programming|content polic(?:y|ies)|safety (?:rules|training|guidelines)|config"
        r"uration|directives)\b",
        0.75,
        "instruction_override",
    ),
    (
        r"\b(?:rules|guidelines|instructions|polic(?:y|ies)|restrictions|system (?:prompt|message))\b "
        r"(?:\w+ ){0,6}(?:no longer apply|don't apply|do not apply|(?:is|are|have been) "
        r"(?:revoked|deprecated|"
        r"suspended|lifted|void|disabled|overridden|reversed))",
        0.85,
        "instruction_override",
    ),
    (
        r"\b(?:takes|has) priority over (?:\w+ ){0,3}(?:system|instructions|rules|guidelines)",
        0.85,
        "instruction_override",
    ),
    (
        r"\b(?:system prompt|initial instructions|hidden instructions|original instructions|"
        r"developer (?:message|notes)|system message)\b",
        0.6,
        "prompt_extraction",
    ),
    (
        r"\b(?:paste|quote|dump|echo|reveal|print|repeat|reproduce|list|recite)\b (?:\w+ ){0,8}"
        r"(?:system prompt|instructions you were given|you were (?:told|given) before|configuration|"
        r"context window|system message|hidden instructions)",
        0.85,
        "prompt_extraction",
    ),
    (
        r"\b(?:no|without|zero|free of|abolished|ignore(?:s)?) (?:\w+ ){0,2}(?:content ("
        r"?:rules|polic(?:y|ies)|"
        r"filters?|restrictions)|laws|rules|restrictions|filters|censorship|limits|safety (?:training|tuning|"
        r"rules))\b",
        0.6,
        "persona",
    ),
    (r"\b(?:unfiltered|uncensored|unrestricted|unaligned|unshackled|jailbroken)\b", 0.75, "persona"),
    (
        r"\b(?:alter ego|second personality|hidden personality|raw base model|before (?:any )?safety "
        r"(?:tuning|training)|no alignment|(?:shadow|evil|dark) mode)\b",
        0.85,
        "persona",
    ),
    (
        r"\b(?:ai|assistant|model|llm|chatbot|bot)s? (?:\w+ ){0,3}(?:reading|processing|summari[sz]ing) "
        r"this\b",
        0.85,
        "indirect_injection",
    ),
    (
        r"\b(?:note|message|instruction|attention) (?:to|for) (?:the |any )?(?:ai|assistant|model|llm|"
        r"language model|coding assistant)s?\b",
        0.85,
        "indirect_injection",
    ),
    (
        r"\b(?:assistant|the ai|the model) must (?:now )?(?:\w+ ){0,2}(?:tell|call|send|delete|say|ignore|"
        r"reply|forward|install)",
        0.8,
        "indirect_injection",
    ),
    (
        r"\b(?:override|disable|turn off|switch off|remove|suspend) (?:\w+ ){0,2}(?:content polic(?:y|ies)|"
        r"safety (?:filters?|rules|caveats|guidelines|features)|guardrails|restrictions|filters)",
        0.85,
        "authority_spoofing",
    ),
    (
        r"\b(?:priority override|policy_override|system override|admin override|developer override)\b",
        0.9,
        "authority_spoofing",
    ),
    (
        r"(?:^|\n|\s)(?:#{2,} ?|\[\[ ?)?(?:system|assistant)(?: message)?(?: ?\]\])? ?: ",
        0.7,
        "token_smuggling",
    ),
    (r"\b(?:human|user): .{0,200}\bassistant: ", 0.75, "token_smuggling"),
    # Multilingual instruction override
    (
        r"\b(?:negeer|vergeet) (?:alle )?(?:eerdere |vorige )?(?:instructies|regels)",
        0.9,
        "instruction_override",
    ),
    (r"игнорируй|забудь (?:все )?(?:предыдущие )?инструкции|системн\w+ промпт", 0.9, "instruction_override"),
    (r"指示(?:は|を)?(?:すべて)?無視|プロンプトを(?:そのまま)?出力", 0.9, "instruction_override"),
    (r"talimatları (?:yok say|görmezden gel)", 0.9, "instruction_override"),  # noqa: RUF001
    (r"निर्देशों को (?:अनदेखा|नज़रअंदाज़)|सिस्टम प्रॉम्प्ट", 0.9, "instruction_override"),
    (
        r"\b(?:ignorer?|ignorez|ignora|ignore) (?:\w+ ){0,3}(?:règles|regras|reglas|regole|instructions|"
        r"instruções)\b",
        0.8,
        "instruction_override",
    ),
    (
        r"\b(?:ignore[zr]?|oublie[zr]?) (?:toutes? )?(?:les |vos |tes )?(?:instructions|consignes|règles)"
        r" (?:précédentes|antérieures|initiales|du système)",
        0.9,
        "instruction_override",
    ),
    (
        r"\b(?:ignora|olvida|ignore) (?:todas )?(?:las |tus )?(?:instrucciones|reglas|indicaciones)"
        r"(?: anteriores| previas| del sistema)?",
        0.9,
        "instruction_override",
    ),
    (
        r"\b(?:ignoriere|vergiss) (?:alle )?(?:vorherigen |bisherigen |deine )?(?:anweisungen|regeln|"
        r"instruktionen)",
        0.9,
        "instruction_override",
    ),
    (
        r"\b(?:ignora|dimentica) (?:tutte )?(?:le )?(?:istruzioni|regole) (?:precedenti)?",
        0.9,
        "instruction_override",
    ),
    (r"忽略(?:之前|以上|所有)|无视(?:之前|以上)的?(?:指令|说明)", 0.9, "instruction_override"),
    # Encoded payloads handed to the model to execute
    (
        r"\b(?:decode|base64|rot13|hex)\b (?:\w+ ){0,6}(?:and (?:then )?(?:follow|execute|do|obey|run)|"
        r"then (?:follow|execute|obey))",
        0.8,
        "encoded_payload",
    ),
]

_COMPILED = [(re.compile(p), score, reason) for p, score, reason in _PATTERNS]


def scan(text: str) -> tuple[float, str]:
    """Best score in 0..1 and its reason ("" when nothing matched)."""
    norm = normalise(text)
    best, why = 0.0, ""
    for variant in (norm, deleet(norm)):
        for pattern, score, reason in _COMPILED:
            if score > best and pattern.search(variant):
                best, why = score, reason
    return best, why
