"""Titles in other scripts: which regions write in which script, and words to write them with.

The real slice (1894–1957) has Cyrillic, Japanese, Chinese and Greek akas, whose words are
used as they are. Arabic, Hebrew, Devanagari, Hangul and Thai barely occur in it, so they get
a few common title words (love, night, house, story, ...) plus words spelled from the script's
own letters, which is what a trigram or full-text index needs to meet.
"""

from __future__ import annotations

import numpy as np

from .realdata import Choice

# region -> (script, language written in the aka's language column when it is set)
REGION_SCRIPTS = {
    "RU": ("CYRILLIC", "ru"),
    "SUHH": ("CYRILLIC", "ru"),
    "UA": ("CYRILLIC", "uk"),
    "BG": ("CYRILLIC", "bg"),
    "RS": ("CYRILLIC", "sr"),
    "XYU": ("CYRILLIC", "sr"),
    "BY": ("CYRILLIC", "be"),
    "KZ": ("CYRILLIC", "kk"),
    "JP": ("JAPANESE", "ja"),
    "CN": ("CJK", "cmn"),
    "TW": ("CJK", "cmn"),
    "HK": ("CJK", "yue"),
    "KR": ("HANGUL", "ko"),
    "GR": ("GREEK", "el"),
    "IL": ("HEBREW", "he"),
    "EG": ("ARABIC", "ar"),
    "SA": ("ARABIC", "ar"),
    "AE": ("ARABIC", "ar"),
    "LB": ("ARABIC", "ar"),
    "IR": ("ARABIC", "fa"),
    "IN": ("DEVANAGARI", "hi"),
    "TH": ("THAI", "th"),
}

# Regions of today's dumps that the 1950s slice hardly has; mixed into the real region shares.
MODERN_REGIONS = (
    "US GB FR DE ES IT JP BR MX IN CA AU RU KR CN TW HK TR GR IL EG SA AE IR TH PL PT NL SE DK FI NO "
    "HU CZ RO BG UA RS AR CL CO PE VE PH ID VN MY SG NZ IE BE AT CH LB BY KZ XWW XWG"
).split()

SEED_WORDS = {
    "ARABIC": "الحب الليل رجل امرأة البيت الطريق الحياة قصة في من العودة الأخير سر المدينة حلم الموت و على".split(),
    "HEBREW": "אהבה לילה של איש אישה בית סיפור חלום האחרון העיר מלחמה הדרך חיים ו".split(),
    "DEVANAGARI": "प्यार रात दिल की का और कहानी घर जीवन सपना मेरा दुनिया राजा बेटी आखिरी में".split(),
    "HANGUL": "사랑 밤 의 남자 여자 집 이야기 마지막 비밀 도시 꿈 전쟁 그리고 우리".split(),
    "THAI": "ความรัก คืน บ้าน เรื่อง ฝัน สุดท้าย เมือง สงคราม ผู้ชาย ผู้หญิง ของ".split(),
    "CJK": "爱 夜 的 家 故事 梦 最后 城市 战争 男人 女人 天 世界 人生".split(),
    "JAPANESE": "愛 夜 の 家 物語 夢 最後 街 戦争 男 女 東京 さくら ラブ".split(),
    "CYRILLIC": "любовь ночь и в дом история мечта последний город война человек жизнь".split(),
    "GREEK": "αγάπη νύχτα και το σπίτι ιστορία όνειρο τελευταίος πόλη πόλεμος άνθρωπος".split(),
}

# letters to spell new words with: (first code point, last code point)
LETTERS = {
    "ARABIC": (0x0627, 0x064A),
    "HEBREW": (0x05D0, 0x05EA),
    "DEVANAGARI": (0x0915, 0x0939),
    "HANGUL": (0xAC00, 0xD7A3),
    "THAI": (0x0E01, 0x0E2E),
    "CJK": (0x4E00, 0x9FA5),
    "JAPANESE": (0x30A2, 0x30F3),
    "CYRILLIC": (0x0430, 0x044F),
    "GREEK": (0x03B1, 0x03C9),
}
NO_SPACES = {"CJK", "JAPANESE", "THAI"}
SCRIPTS = tuple(sorted(LETTERS))


class ScriptWords:
    """Titles in one script: real words (Zipf-weighted) where the slice has them, seeds and spelled words."""

    def __init__(self, script: str, real: Choice | None):
        self.script = script
        seeds = {word: 60 - rank for rank, word in enumerate(SEED_WORDS[script])}
        if real is not None:
            shares = np.diff(np.concatenate(([0.0], real.cdf)))
            for word, share in zip(real.values, shares.tolist(), strict=True):
                seeds[word] = seeds.get(word, 0) + max(1, int(share * 50_000))
        self.words = Choice(seeds)
        self.first, self.last = LETTERS[script]
        self.separator = "" if script in NO_SPACES else " "

    def titles(self, rng: np.random.Generator, size: int) -> list[str]:
        """``size`` titles of one to four words, a quarter of the words spelled anew from the script's letters."""
        counts = rng.integers(1, 5, size=size)
        words = self.words.draw(rng, int(counts.sum()))
        spelled = np.flatnonzero(rng.random(len(words)) < 0.25)
        longest = 4 if self.script in ("CJK", "HANGUL") else 8
        lengths = rng.integers(2, longest, size=len(spelled))
        letters = "".join(map(chr, rng.integers(self.first, self.last + 1, size=int(lengths.sum())).tolist()))
        ends = np.cumsum(lengths).tolist()
        for position, start, end in zip(spelled.tolist(), [0, *ends][: len(ends)], ends, strict=True):
            words[position] = letters[start:end]
        join = self.separator.join
        titles = []
        start = 0
        for count in counts.tolist():
            titles.append(join(words[start : start + count]))
            start += count
        return titles
