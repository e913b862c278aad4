"""Header vocabulary shared by the text readers (matrix ``text`` and ``profile``)."""

from __future__ import annotations

__all__ = ["GWYDDION_KEYS"]

#: Gwyddion's ASCII export writes its header keys translated into the user interface
#: language ("# Breite: 12.34 µm"); these are the translations of "Channel:", "Width:",
#: "Height:" and "Value units:" in Gwyddion's message catalogues (cs, de, en_GB, es, fr,
#: it, ko, ru; de and es leave "Value units:" in English), mapped to the English keys
GWYDDION_KEYS = {
    "kanál": "channel", "kanal": "channel", "canal": "channel", "canale": "channel",
    "채널": "channel", "канал": "channel",
    "šířka": "width", "breite": "width", "anchura": "width", "largeur": "width",
    "larghezza": "width", "폭": "width", "ширина": "width",
    "výška": "height", "höhe": "height", "altura": "height", "hauteur": "height",
    "altezza": "height", "높이": "height", "высота": "height",
    "jednotky hodnot": "value units", "unités": "value units", "unità valore": "value units",
    "값 단위": "value units", "единицы измерения": "value units",
}
