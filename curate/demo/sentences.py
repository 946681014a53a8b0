"""Short prompts for the demo corpus, one set per language.

Each language has eight plain, everyday sentences of four to ten words, so a
spoken utterance lasts roughly 1.5 to 3 seconds at espeak-ng's default rate.
``LANGUAGES`` is keyed by ISO 639-1 code; each entry names the espeak-ng voice
that speaks it and the ISO 639-3 code that the catalog stores.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Language", "LANGUAGES"]


@dataclass(frozen=True)
class Language:
    """One demo language.

    Attributes:
        iso639_1: two-letter code, also the key in ``LANGUAGES`` (``"de"``).
        iso639_3: three-letter code used in the catalog (``"deu"``).
        name: English name of the language.
        voice: espeak-ng voice name (a file under ``espeak-ng-data/lang``).
        sentences: the prompts, each 4-10 words.
    """

    iso639_1: str
    iso639_3: str
    name: str
    voice: str
    sentences: tuple[str, ...]


LANGUAGES: dict[str, Language] = {
    "en": Language(
        "en", "eng", "English", "en",
        (
            "The kettle clicked off just before seven.",
            "Please leave the spare keys under the blue pot.",
            "Our train was late again this morning.",
            "She planted tomatoes along the garden fence.",
            "Turn left after the old stone bridge.",
            "The library closes early on Sundays.",
            "He painted the kitchen a pale shade of green.",
            "We watched the storm roll in from the sea.",
        ),
    ),
    "de": Language(
        "de", "deu", "German", "de",
        (
            "Der Bäcker öffnet jeden Morgen um sechs.",
            "Bitte schließ das Fenster, es zieht.",
            "Wir fahren am Wochenende an den See.",
            "Mein Bruder repariert gerade sein altes Fahrrad.",
            "Die Katze schläft den ganzen Tag im Korb.",
            "Im Herbst fallen die Blätter sehr früh.",
            "Kannst du mir das Salz geben?",
            "Der Zug nach Hamburg hat Verspätung.",
        ),
    ),
    "fr": Language(
        "fr", "fra", "French", "fr",
        (
            "Le marché ouvre tôt le samedi matin.",
            "Peux-tu fermer la porte du jardin?",
            "Nous avons mangé des crêpes hier soir.",
            "Mon voisin joue du piano tous les jours.",
            "Il pleut depuis le début de la semaine.",
            "La boulangerie du coin fait un excellent pain.",
            "Elle lit un roman policier sur la terrasse.",
            "Le musée de la ville est fermé le mardi.",
        ),
    ),
    "es": Language(
        "es", "spa", "Spanish", "es",
        (
            "El autobús pasa cada diez minutos.",
            "Mi abuela cocina una paella muy rica.",
            "Hace mucho calor en la ciudad hoy.",
            "¿Dónde dejaste las llaves del coche?",
            "Los niños juegan al fútbol en el parque.",
            "Mañana tenemos una reunión a las nueve.",
            "La tienda de la esquina vende fruta fresca.",
            "Me gusta caminar por la playa al atardecer.",
        ),
    ),
    "it": Language(
        "it", "ita", "Italian", "it",
        (
            "Il caffè è pronto sul tavolo.",
            "Domani andiamo in montagna con gli amici.",
            "La farmacia chiude alle otto di sera.",
            "Mia sorella studia medicina a Bologna.",
            "Il gatto dorme sempre vicino alla finestra.",
            "Abbiamo perso l'ultimo treno per Roma.",
            "Questa pizza ha un profumo meraviglioso.",
            "Il sole tramonta dietro le colline.",
        ),
    ),
    "pl": Language(
        "pl", "pol", "Polish", "pl",
        (
            "Sklep na rogu jest otwarty do dwudziestej.",
            "Jutro rano jedziemy nad morze.",
            "Mój brat gra na gitarze w zespole.",
            "Proszę zamknąć drzwi do kuchni.",
            "W ogrodzie kwitną już pierwsze tulipany.",
            "Pociąg do Krakowa odjeżdża z peronu drugiego.",
            "Kot śpi na parapecie cały dzień.",
            "Zimą często pijemy gorącą herbatę.",
        ),
    ),
    "pt": Language(
        "pt", "por", "Portuguese", "pt",
        (
            "O padeiro chega sempre muito cedo.",
            "Vamos jantar na casa da minha tia.",
            "O comboio para Lisboa está atrasado.",
            "As crianças brincam no jardim depois da escola.",
            "Podes abrir a janela, por favor?",
            "Comprei peixe fresco no mercado hoje.",
            "O meu cão adora correr na praia.",
            "Choveu bastante durante toda a noite.",
        ),
    ),
    "nl": Language(
        "nl", "nld", "Dutch", "nl",
        (
            "De fiets staat achter het huis.",
            "Wij gaan zaterdag naar de markt.",
            "Mijn zus werkt in een groot ziekenhuis.",
            "Het regent al de hele ochtend.",
            "Kun je de deur even dichtdoen?",
            "De bakker verkoopt heerlijk vers brood.",
            "De trein naar Utrecht vertrekt om tien uur.",
            "In de zomer zwemmen we in het meer.",
        ),
    ),
    "ru": Language(
        "ru", "rus", "Russian", "ru",
        (
            "Магазин на углу открывается в восемь.",
            "Завтра мы поедем к бабушке в деревню.",
            "Мой брат любит читать старые книги.",
            "Пожалуйста, закрой окно на кухне.",
            "Вечером во дворе играют дети.",
            "Поезд в Москву уходит через час.",
            "Кошка спит на тёплом подоконнике.",
            "Зимой мы часто пьём горячий чай.",
        ),
    ),
    "hi": Language(
        "hi", "hin", "Hindi", "hi",
        (
            "आज बाज़ार में बहुत भीड़ है।",
            "कृपया दरवाज़ा बंद कर दीजिए।",
            "मेरी बहन दिल्ली में पढ़ती है।",
            "हम कल सुबह पहाड़ों पर जाएंगे।",
            "बच्चे पार्क में क्रिकेट खेल रहे हैं।",
            "चाय में थोड़ी चीनी और डालो।",
            "ट्रेन स्टेशन पर देर से पहुंची।",
            "बारिश के बाद मौसम ठंडा हो गया।",
        ),
    ),
}
