"""Names for the region codes of title.akas: ISO 3166-1 codes plus IMDb's historical and special ones."""

REGION_NAMES = {
    "AR": "Argentina", "AT": "Austria", "AU": "Australia", "BE": "Belgium", "BG": "Bulgaria", "BR": "Brazil",
    "CA": "Canada", "CH": "Switzerland", "CL": "Chile", "CN": "China", "CO": "Colombia", "CS": "Czechoslovakia",
    "CZ": "Czechia", "DD": "East Germany", "DE": "Germany", "DK": "Denmark", "EC": "Ecuador", "EE": "Estonia",
    "EG": "Egypt", "ES": "Spain", "FI": "Finland", "FR": "France", "GB": "United Kingdom", "GR": "Greece",
    "HK": "Hong Kong", "HR": "Croatia", "HU": "Hungary", "ID": "Indonesia", "IE": "Ireland", "IL": "Israel",
    "IN": "India", "IR": "Iran", "IS": "Iceland", "IT": "Italy", "JP": "Japan", "KR": "South Korea",
    "LT": "Lithuania", "LV": "Latvia", "MX": "Mexico", "MY": "Malaysia", "NL": "Netherlands", "NO": "Norway",
    "NZ": "New Zealand", "PE": "Peru", "PH": "Philippines", "PL": "Poland", "PT": "Portugal", "RO": "Romania",
    "RS": "Serbia", "RU": "Russia", "SE": "Sweden", "SG": "Singapore", "SI": "Slovenia", "SK": "Slovakia",
    "SUHH": "Soviet Union", "TH": "Thailand", "TR": "Turkey", "TW": "Taiwan", "UA": "Ukraine", "US": "United States",
    "UY": "Uruguay", "VE": "Venezuela", "VN": "Vietnam", "XWG": "West Germany", "XWW": "Worldwide",
    "XYU": "Yugoslavia", "YUCS": "Yugoslavia", "ZA": "South Africa",
}


def region_name(code: str) -> str:
    """"DE" -> "Germany"; an unknown code is shown as is; no region -> "Other titles"."""
    if not code:
        return "Other titles"
    return REGION_NAMES.get(code, code)
