"""RandomUser's 21 nationalities: which Faker locales make each one's people, and the quirks.

Faker supplies names, places, postcodes, phone numbers and most national ids. What stays
here is what the real API does that Faker cannot know (postcodes sent as strings, the id's
name and how often it is null, English country names) and small fallbacks for the few
fields where the installed Faker has nothing for a country, or only another country's data.
Each choice is resolved once at import against the installed Faker, so a newer Faker that
gains a locale or provider is used without changes here.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from faker.config import AVAILABLE_LOCALES
from faker.providers.date_time import Provider as DateTimeProvider

from pipeline.local.sandbox._common import split

logger = logging.getLogger(__name__)

# Faker's country list says "Republic of Ireland" and "Kingdom of the Netherlands".
_COUNTRY_OVERRIDES = {"IE": "Ireland", "NL": "Netherlands"}
# Methods that name a region, tried in order; Faker's locales differ in what they offer.
_STATE_METHODS = ("administrative_unit", "region")


@dataclass(frozen=True)
class Nationality:
    """How the people of one RandomUser nationality are made (all choices resolved)."""

    code: str  # lower-case, as in ?nat=
    country: str  # English name, as the real API sends it
    locales: tuple[str, ...]  # each person's names and places come from one of these
    home_locale: str  # phone numbers and the national id come from this one
    postcode_is_text: bool  # the real API sends some digit-only postcodes as strings
    id_name: str  # "" means the real API sends {"name": "", "value": null}
    id_method: str  # the Faker method for the id value; "" means fill id_pattern instead
    id_pattern: str
    id_null_rate: float  # the real API sends a null id this often even where one exists
    state_method: str  # "" means draw from states
    faker_places: bool  # False means streets and cities come from the lists below
    phones: tuple[str, str]  # (phone, cell) patterns; ("", "") means Faker's numbers
    states: tuple[str, ...]
    cities: tuple[str, ...]
    streets: tuple[str, ...]


@cache
def _provider_module(aspect: str, locale: str) -> ModuleType | None:
    """Faker's own provider module for ``aspect`` in ``locale``; None when it falls back."""
    name = f"faker.providers.{aspect}.{locale}"
    if importlib.util.find_spec(name) is None:
        return None
    return importlib.import_module(name)


def _defines(aspect: str, locale: str, method: str) -> bool:
    """Whether ``method`` of the locale's provider is made for its country.

    Faker's locales inherit what they lack: en_IE's ``ssn()`` is the generic US-style one,
    while de_CH's comes from fr_CH and is the Swiss AVS number. So the class that defines
    the method must belong to a locale of the same country.
    """
    module = _provider_module(aspect, locale)
    if module is None:
        return False
    owner = next((c for c in module.Provider.__mro__ if method in vars(c)), None)
    owner_locale = (owner.__module__ if owner else "").rpartition(".")[2]
    return owner_locale.partition("_")[2] == locale.partition("_")[2] != ""


def _state_method(locales: tuple[str, ...]) -> str:
    for method in _STATE_METHODS:
        providers = [_provider_module("address", locale) for locale in locales]
        if all(p is not None and hasattr(p.Provider, method) for p in providers):
            return method
    return ""


def _country(code: str) -> str:
    if code in _COUNTRY_OVERRIDES:
        return _COUNTRY_OVERRIDES[code]
    return next((c.name for c in DateTimeProvider.countries if c.alpha_2_code == code), code)


def _nat(
    code: str,
    wanted: str,
    *,
    stand_in: str = "en_US",
    text_postcode: bool = False,
    id_: tuple[str, str, str] = ("", "", ""),
    id_null_rate: float = 0.0,
    phones: tuple[str, str] = ("", ""),
    places: tuple[str, str, str] = ("", "", ""),
) -> Nationality:
    """One nationality: ``wanted`` locales (comma list), id_ = (name, Faker method, pattern).

    ``stand_in`` is used when none of the wanted locales is installed; it is another
    country's locale, so its places, phones and ids are replaced by the fallbacks given.
    """
    locales = tuple(locale for locale in split(wanted) if locale in AVAILABLE_LOCALES)
    is_stand_in = not locales
    if is_stand_in:
        locales = (stand_in if stand_in in AVAILABLE_LOCALES else "en_US",)
        logger.debug("Faker has no %s; RandomUser %s people use %s", wanted, code, locales[0])
    home = locales[0]
    states, cities, streets = (split(x) for x in places)
    own_places = not is_stand_in and all(_provider_module("address", lo) for lo in locales)
    own_phones = not is_stand_in and _provider_module("phone_number", home) is not None
    id_name, id_method, id_pattern = id_
    if is_stand_in or not (id_method and _defines("ssn", home, id_method)):
        id_method = ""
    return Nationality(
        code=code.lower(),
        country=_country(code),
        locales=locales,
        home_locale=home,
        postcode_is_text=text_postcode,
        id_name=id_name,
        id_method=id_method,
        id_pattern=id_pattern,
        id_null_rate=id_null_rate,
        state_method="" if states and not own_places else _state_method(locales),
        faker_places=own_places or not (cities and streets),
        phones=phones if not own_phones and phones[0] else ("", ""),
        states=states or ("",),
        cities=cities,
        streets=streets,
    )


# The pattern in id_ is used where this Faker cannot make that id ('#' digit, '@' letter).
# fmt: off
_TABLE = (
    _nat("AU", "en_AU", id_=("TFN", "", "#########")),
    _nat("BR", "pt_BR", id_=("CPF", "cpf", "###.###.###-##")),
    # Canada: English and French-Canadian people, half and half.
    _nat("CA", "en_CA, fr_CA", text_postcode=True, id_=("SIN", "ssn", "### ### ###")),
    _nat("CH", "de_CH, fr_CH", id_=("AVS", "ssn", "756.####.####.##")),
    _nat("DE", "de_DE", id_=("SVNR", "rvnr", "## ###### @ ###")),
    _nat("DK", "da_DK", id_=("CPR", "", "######-####")),
    _nat("ES", "es_ES", id_=("DNI", "nif", "########-@")),
    _nat("FI", "fi_FI", id_=("HETU", "ssn", "######-###@")),
    _nat("FR", "fr_FR", id_=("INSEE", "ssn", "#############")),
    _nat("GB", "en_GB", text_postcode=True, id_=("NINO", "ssn", "@@ ## ## ## @")),
    # Faker's en_IE has no phone numbers of its own (it would give US ones).
    _nat("IE", "en_IE", id_=("PPS", "", "#######@"), id_null_rate=0.5,
         phones=("0##-###-####", "08#-###-####")),
    _nat("IN", "en_IN", id_=("UIDAI", "aadhaar_id", "############")),
    _nat("IR", "fa_IR"),
    _nat("MX", "es_MX", id_=("NSS", "ssn", "## ## ## #### #")),
    _nat("NL", "nl_NL", text_postcode=True, id_=("BSN", "ssn", "########"), id_null_rate=0.5),
    # Digits but a string: Norwegian postcodes keep their leading zero. Faker has no regions.
    _nat("NO", "no_NO", text_postcode=True, id_=("FN", "ssn", "###########"),
         places=("Vestland, Nordland, Innlandet, Agder, Rogaland, Trøndelag, Troms", "", "")),
    _nat("NZ", "en_NZ",
         places=("Otago, Canterbury, Waikato, Northland, Taranaki, Southland, Wellington", "", "")),
    # No Serbian in Faker: Croatian (the nearest South Slavic locale) for names, the rest here.
    _nat("RS", "sr_RS", stand_in="hr_HR", id_=("SID", "", "#########"),
         phones=("0##-####-###", "06#-####-###"),
         places=("Šumadija, Zlatibor, Braničevo, Toplica, Raška, Pomoravlje",
                 "Niš, Čačak, Kraljevo, Užice, Novi Sad, Kragujevac, Subotica",
                 "Knez Mihailova, Vojvode Stepe, Cara Dušana, Njegoševa, Bulevar oslobođenja")),
    # Faker's tr_TR has names and phones but no addresses (it would give US ones).
    # (RUF001 takes Turkish dotless i for a confusable; it is deliberate.)
    _nat("TR", "tr_TR",
         places=("İzmir, Muğla, Kütahya, Çanakkale, Ankara, Trabzon",
                 "Bursa, Eskişehir, Şanlıurfa, Kırşehir, Antalya, Konya",  # noqa: RUF001
                 "Atatürk Cd, Bağdat Cd, Kushimoto Sk, İstiklal Cd, Fatih Sk, Necatibey Cd")),
    _nat("UA", "uk_UA"),
    _nat("US", "en_US", id_=("SSN", "ssn", "###-##-####")),
)
# fmt: on
NATIONALITIES: dict[str, Nationality] = {nat.code: nat for nat in _TABLE}
