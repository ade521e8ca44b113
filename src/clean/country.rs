//! ISO 3166-1 countries (alpha-2, alpha-3, English short name), generated from pycountry
//! pycountry 26.2.16 data; sorted by alpha-2 for binary search.
//! Aliases a user writes in an address (native names, 'UK', 'USA') are in `ALIASES`.

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

use super::text::with_joined;
use crate::error::{CrmError, Result};

/// (alpha-2, alpha-3, English short name), sorted by alpha-2.
pub static COUNTRIES: [(&str, &str, &str); 249] = [
    ("AD", "AND", "Andorra"),
    ("AE", "ARE", "United Arab Emirates"),
    ("AF", "AFG", "Afghanistan"),
    ("AG", "ATG", "Antigua and Barbuda"),
    ("AI", "AIA", "Anguilla"),
    ("AL", "ALB", "Albania"),
    ("AM", "ARM", "Armenia"),
    ("AO", "AGO", "Angola"),
    ("AQ", "ATA", "Antarctica"),
    ("AR", "ARG", "Argentina"),
    ("AS", "ASM", "American Samoa"),
    ("AT", "AUT", "Austria"),
    ("AU", "AUS", "Australia"),
    ("AW", "ABW", "Aruba"),
    ("AX", "ALA", "Åland Islands"),
    ("AZ", "AZE", "Azerbaijan"),
    ("BA", "BIH", "Bosnia and Herzegovina"),
    ("BB", "BRB", "Barbados"),
    ("BD", "BGD", "Bangladesh"),
    ("BE", "BEL", "Belgium"),
    ("BF", "BFA", "Burkina Faso"),
    ("BG", "BGR", "Bulgaria"),
    ("BH", "BHR", "Bahrain"),
    ("BI", "BDI", "Burundi"),
    ("BJ", "BEN", "Benin"),
    ("BL", "BLM", "Saint Barthélemy"),
    ("BM", "BMU", "Bermuda"),
    ("BN", "BRN", "Brunei Darussalam"),
    ("BO", "BOL", "Bolivia"),
    ("BQ", "BES", "Bonaire, Sint Eustatius and Saba"),
    ("BR", "BRA", "Brazil"),
    ("BS", "BHS", "Bahamas"),
    ("BT", "BTN", "Bhutan"),
    ("BV", "BVT", "Bouvet Island"),
    ("BW", "BWA", "Botswana"),
    ("BY", "BLR", "Belarus"),
    ("BZ", "BLZ", "Belize"),
    ("CA", "CAN", "Canada"),
    ("CC", "CCK", "Cocos (Keeling) Islands"),
    ("CD", "COD", "Congo, The Democratic Republic of the"),
    ("CF", "CAF", "Central African Republic"),
    ("CG", "COG", "Congo"),
    ("CH", "CHE", "Switzerland"),
    ("CI", "CIV", "Côte d'Ivoire"),
    ("CK", "COK", "Cook Islands"),
    ("CL", "CHL", "Chile"),
    ("CM", "CMR", "Cameroon"),
    ("CN", "CHN", "China"),
    ("CO", "COL", "Colombia"),
    ("CR", "CRI", "Costa Rica"),
    ("CU", "CUB", "Cuba"),
    ("CV", "CPV", "Cabo Verde"),
    ("CW", "CUW", "Curaçao"),
    ("CX", "CXR", "Christmas Island"),
    ("CY", "CYP", "Cyprus"),
    ("CZ", "CZE", "Czechia"),
    ("DE", "DEU", "Germany"),
    ("DJ", "DJI", "Djibouti"),
    ("DK", "DNK", "Denmark"),
    ("DM", "DMA", "Dominica"),
    ("DO", "DOM", "Dominican Republic"),
    ("DZ", "DZA", "Algeria"),
    ("EC", "ECU", "Ecuador"),
    ("EE", "EST", "Estonia"),
    ("EG", "EGY", "Egypt"),
    ("EH", "ESH", "Western Sahara"),
    ("ER", "ERI", "Eritrea"),
    ("ES", "ESP", "Spain"),
    ("ET", "ETH", "Ethiopia"),
    ("FI", "FIN", "Finland"),
    ("FJ", "FJI", "Fiji"),
    ("FK", "FLK", "Falkland Islands (Malvinas)"),
    ("FM", "FSM", "Micronesia, Federated States of"),
    ("FO", "FRO", "Faroe Islands"),
    ("FR", "FRA", "France"),
    ("GA", "GAB", "Gabon"),
    ("GB", "GBR", "United Kingdom"),
    ("GD", "GRD", "Grenada"),
    ("GE", "GEO", "Georgia"),
    ("GF", "GUF", "French Guiana"),
    ("GG", "GGY", "Guernsey"),
    ("GH", "GHA", "Ghana"),
    ("GI", "GIB", "Gibraltar"),
    ("GL", "GRL", "Greenland"),
    ("GM", "GMB", "Gambia"),
    ("GN", "GIN", "Guinea"),
    ("GP", "GLP", "Guadeloupe"),
    ("GQ", "GNQ", "Equatorial Guinea"),
    ("GR", "GRC", "Greece"),
    ("GS", "SGS", "South Georgia and the South Sandwich Islands"),
    ("GT", "GTM", "Guatemala"),
    ("GU", "GUM", "Guam"),
    ("GW", "GNB", "Guinea-Bissau"),
    ("GY", "GUY", "Guyana"),
    ("HK", "HKG", "Hong Kong"),
    ("HM", "HMD", "Heard Island and McDonald Islands"),
    ("HN", "HND", "Honduras"),
    ("HR", "HRV", "Croatia"),
    ("HT", "HTI", "Haiti"),
    ("HU", "HUN", "Hungary"),
    ("ID", "IDN", "Indonesia"),
    ("IE", "IRL", "Ireland"),
    ("IL", "ISR", "Israel"),
    ("IM", "IMN", "Isle of Man"),
    ("IN", "IND", "India"),
    ("IO", "IOT", "British Indian Ocean Territory"),
    ("IQ", "IRQ", "Iraq"),
    ("IR", "IRN", "Iran"),
    ("IS", "ISL", "Iceland"),
    ("IT", "ITA", "Italy"),
    ("JE", "JEY", "Jersey"),
    ("JM", "JAM", "Jamaica"),
    ("JO", "JOR", "Jordan"),
    ("JP", "JPN", "Japan"),
    ("KE", "KEN", "Kenya"),
    ("KG", "KGZ", "Kyrgyzstan"),
    ("KH", "KHM", "Cambodia"),
    ("KI", "KIR", "Kiribati"),
    ("KM", "COM", "Comoros"),
    ("KN", "KNA", "Saint Kitts and Nevis"),
    ("KP", "PRK", "North Korea"),
    ("KR", "KOR", "South Korea"),
    ("KW", "KWT", "Kuwait"),
    ("KY", "CYM", "Cayman Islands"),
    ("KZ", "KAZ", "Kazakhstan"),
    ("LA", "LAO", "Laos"),
    ("LB", "LBN", "Lebanon"),
    ("LC", "LCA", "Saint Lucia"),
    ("LI", "LIE", "Liechtenstein"),
    ("LK", "LKA", "Sri Lanka"),
    ("LR", "LBR", "Liberia"),
    ("LS", "LSO", "Lesotho"),
    ("LT", "LTU", "Lithuania"),
    ("LU", "LUX", "Luxembourg"),
    ("LV", "LVA", "Latvia"),
    ("LY", "LBY", "Libya"),
    ("MA", "MAR", "Morocco"),
    ("MC", "MCO", "Monaco"),
    ("MD", "MDA", "Moldova"),
    ("ME", "MNE", "Montenegro"),
    ("MF", "MAF", "Saint Martin (French part)"),
    ("MG", "MDG", "Madagascar"),
    ("MH", "MHL", "Marshall Islands"),
    ("MK", "MKD", "North Macedonia"),
    ("ML", "MLI", "Mali"),
    ("MM", "MMR", "Myanmar"),
    ("MN", "MNG", "Mongolia"),
    ("MO", "MAC", "Macao"),
    ("MP", "MNP", "Northern Mariana Islands"),
    ("MQ", "MTQ", "Martinique"),
    ("MR", "MRT", "Mauritania"),
    ("MS", "MSR", "Montserrat"),
    ("MT", "MLT", "Malta"),
    ("MU", "MUS", "Mauritius"),
    ("MV", "MDV", "Maldives"),
    ("MW", "MWI", "Malawi"),
    ("MX", "MEX", "Mexico"),
    ("MY", "MYS", "Malaysia"),
    ("MZ", "MOZ", "Mozambique"),
    ("NA", "NAM", "Namibia"),
    ("NC", "NCL", "New Caledonia"),
    ("NE", "NER", "Niger"),
    ("NF", "NFK", "Norfolk Island"),
    ("NG", "NGA", "Nigeria"),
    ("NI", "NIC", "Nicaragua"),
    ("NL", "NLD", "Netherlands"),
    ("NO", "NOR", "Norway"),
    ("NP", "NPL", "Nepal"),
    ("NR", "NRU", "Nauru"),
    ("NU", "NIU", "Niue"),
    ("NZ", "NZL", "New Zealand"),
    ("OM", "OMN", "Oman"),
    ("PA", "PAN", "Panama"),
    ("PE", "PER", "Peru"),
    ("PF", "PYF", "French Polynesia"),
    ("PG", "PNG", "Papua New Guinea"),
    ("PH", "PHL", "Philippines"),
    ("PK", "PAK", "Pakistan"),
    ("PL", "POL", "Poland"),
    ("PM", "SPM", "Saint Pierre and Miquelon"),
    ("PN", "PCN", "Pitcairn"),
    ("PR", "PRI", "Puerto Rico"),
    ("PS", "PSE", "Palestine, State of"),
    ("PT", "PRT", "Portugal"),
    ("PW", "PLW", "Palau"),
    ("PY", "PRY", "Paraguay"),
    ("QA", "QAT", "Qatar"),
    ("RE", "REU", "Réunion"),
    ("RO", "ROU", "Romania"),
    ("RS", "SRB", "Serbia"),
    ("RU", "RUS", "Russian Federation"),
    ("RW", "RWA", "Rwanda"),
    ("SA", "SAU", "Saudi Arabia"),
    ("SB", "SLB", "Solomon Islands"),
    ("SC", "SYC", "Seychelles"),
    ("SD", "SDN", "Sudan"),
    ("SE", "SWE", "Sweden"),
    ("SG", "SGP", "Singapore"),
    ("SH", "SHN", "Saint Helena, Ascension and Tristan da Cunha"),
    ("SI", "SVN", "Slovenia"),
    ("SJ", "SJM", "Svalbard and Jan Mayen"),
    ("SK", "SVK", "Slovakia"),
    ("SL", "SLE", "Sierra Leone"),
    ("SM", "SMR", "San Marino"),
    ("SN", "SEN", "Senegal"),
    ("SO", "SOM", "Somalia"),
    ("SR", "SUR", "Suriname"),
    ("SS", "SSD", "South Sudan"),
    ("ST", "STP", "Sao Tome and Principe"),
    ("SV", "SLV", "El Salvador"),
    ("SX", "SXM", "Sint Maarten (Dutch part)"),
    ("SY", "SYR", "Syria"),
    ("SZ", "SWZ", "Eswatini"),
    ("TC", "TCA", "Turks and Caicos Islands"),
    ("TD", "TCD", "Chad"),
    ("TF", "ATF", "French Southern Territories"),
    ("TG", "TGO", "Togo"),
    ("TH", "THA", "Thailand"),
    ("TJ", "TJK", "Tajikistan"),
    ("TK", "TKL", "Tokelau"),
    ("TL", "TLS", "Timor-Leste"),
    ("TM", "TKM", "Turkmenistan"),
    ("TN", "TUN", "Tunisia"),
    ("TO", "TON", "Tonga"),
    ("TR", "TUR", "Türkiye"),
    ("TT", "TTO", "Trinidad and Tobago"),
    ("TV", "TUV", "Tuvalu"),
    ("TW", "TWN", "Taiwan"),
    ("TZ", "TZA", "Tanzania"),
    ("UA", "UKR", "Ukraine"),
    ("UG", "UGA", "Uganda"),
    ("UM", "UMI", "United States Minor Outlying Islands"),
    ("US", "USA", "United States"),
    ("UY", "URY", "Uruguay"),
    ("UZ", "UZB", "Uzbekistan"),
    ("VA", "VAT", "Holy See (Vatican City State)"),
    ("VC", "VCT", "Saint Vincent and the Grenadines"),
    ("VE", "VEN", "Venezuela"),
    ("VG", "VGB", "Virgin Islands, British"),
    ("VI", "VIR", "Virgin Islands, U.S."),
    ("VN", "VNM", "Vietnam"),
    ("VU", "VUT", "Vanuatu"),
    ("WF", "WLF", "Wallis and Futuna"),
    ("WS", "WSM", "Samoa"),
    ("YE", "YEM", "Yemen"),
    ("YT", "MYT", "Mayotte"),
    ("ZA", "ZAF", "South Africa"),
    ("ZM", "ZMB", "Zambia"),
    ("ZW", "ZWE", "Zimbabwe"),
];

/// Names a user writes for a country that are not its English short name: native names,
/// official long forms and common abbreviations. Matched after case folding and with dots
/// removed, so 'U.S.A.' is 'usa'.
static ALIASES: &[(&str, &str)] = &[
    ("america", "US"),
    ("united states of america", "US"),
    ("usa", "US"),
    ("us", "US"),
    ("uk", "GB"),
    ("great britain", "GB"),
    ("britain", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("wales", "GB"),
    ("northern ireland", "GB"),
    ("eire", "IE"),
    ("éire", "IE"),
    ("republic of ireland", "IE"),
    ("the netherlands", "NL"),
    ("holland", "NL"),
    ("nederland", "NL"),
    ("deutschland", "DE"),
    ("germany", "DE"),
    ("brd", "DE"),
    ("österreich", "AT"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("españa", "ES"),
    ("italia", "IT"),
    ("belgique", "BE"),
    ("belgië", "BE"),
    ("brasil", "BR"),
    ("méxico", "MX"),
    ("россия", "RU"),
    ("russia", "RU"),
    ("中国", "CN"),
    ("中华人民共和国", "CN"),
    ("中國", "CN"),
    ("prc", "CN"),
    ("p.r. china", "CN"),
    ("日本", "JP"),
    ("日本国", "JP"),
    ("korea", "KR"),
    ("republic of korea", "KR"),
    ("대한민국", "KR"),
    ("한국", "KR"),
    ("韩国", "KR"),
    ("भारत", "IN"),
    ("bharat", "IN"),
    ("taiwan", "TW"),
    ("台灣", "TW"),
    ("台湾", "TW"),
    ("hong kong", "HK"),
    ("香港", "HK"),
    ("vietnam", "VN"),
];

/// A country given as an argument: ISO 3166-1 alpha-2 or alpha-3 code, any case ('UK' is
/// accepted for GB, as the UK itself uses it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Country(&'static str);

impl Country {
    pub fn parse(argument: &str, code: &str) -> Result<Country> {
        lookup_code(code.trim())
            .map(Country)
            .ok_or_else(|| CrmError::bad_argument(argument, code, "an ISO 3166-1 country code, alpha-2 or alpha-3, such as 'US', 'GB', 'DE', 'JP' or 'USA'"))
    }

    /// A country from a code of the table (the constants of the parsers).
    pub(crate) fn known(alpha2: &'static str) -> Country {
        debug_assert!(COUNTRIES.binary_search_by(|c| c.0.cmp(alpha2)).is_ok(), "{alpha2}");
        Country(alpha2)
    }

    pub fn alpha2(self) -> &'static str {
        self.0
    }
}

fn lookup_code(code: &str) -> Option<&'static str> {
    let upper = code.to_ascii_uppercase();
    match upper.len() {
        2 if upper == "UK" => Some("GB"),
        2 => COUNTRIES.binary_search_by(|c| c.0.cmp(upper.as_str())).ok().map(|i| COUNTRIES[i].0),
        3 => {
            static ALPHA3: OnceLock<HashMap<&'static str, &'static str>> = OnceLock::new();
            ALPHA3.get_or_init(|| COUNTRIES.iter().map(|c| (c.1, c.0)).collect()).get(upper.as_str()).copied()
        }
        _ => None,
    }
}

/// The alpha-2 code of a country named in free text ('Deutschland', 'U.S.A.', 'South Korea',
/// '中国'), or of a code written as a name ('DE', 'USA'), given as words joined by spaces;
/// `None` when it names no country. Folded on the stack when the words are short ASCII: the
/// address parser asks for every tail of up to four words of every address.
pub fn country_named_words(words: &[&str]) -> Option<Country> {
    with_joined(words, true, |lower| {
        let name = lower.trim().trim_end_matches('.');
        if name.contains('.') {
            named_folded(&name.replace('.', ""))
        } else {
            named_folded(name)
        }
    })
}

/// The country of a lower-case name, alias or alpha-3 code, dots removed.
fn named_folded(folded: &str) -> Option<Country> {
    if folded.is_empty() {
        return None;
    }
    // Names and aliases, lower case, indexed once per process.
    static NAMES: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    let names = NAMES.get_or_init(|| {
        let mut names: HashMap<String, &'static str> = COUNTRIES.iter().map(|c| (c.2.to_lowercase(), c.0)).collect();
        names.extend(ALIASES.iter().map(|(alias, code)| (alias.to_string(), *code)));
        names
    });
    if let Some(code) = names.get(folded) {
        return Some(Country(code));
    }
    if folded.len() == 3 && folded.is_ascii() {
        return lookup_code(folded).map(Country);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        assert!(COUNTRIES.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(COUNTRIES.len(), 249);
    }

    #[test]
    fn codes() {
        assert_eq!(Country::parse("country", "us").unwrap().alpha2(), "US");
        assert_eq!(Country::parse("country", " GBR ").unwrap().alpha2(), "GB");
        assert_eq!(Country::parse("country", "UK").unwrap().alpha2(), "GB");
        assert_eq!(Country::parse("country", "kor").unwrap().alpha2(), "KR");
        for bad in ["", "XX", "U", "USAA", "Germany", "ZZZ", "日本"] {
            let e = Country::parse("country", bad).unwrap_err();
            assert_eq!(e.sqlstate(), "22023", "{bad}");
            assert!(e.message().contains("country"), "{bad}");
        }
    }

    #[test]
    fn names() {
        let n = |s| country_named_words(&[s]).map(Country::alpha2);
        assert_eq!(n("USA"), Some("US"));
        assert_eq!(n("U.S.A."), Some("US"));
        assert_eq!(n("United States"), Some("US"));
        assert_eq!(n("Deutschland"), Some("DE"));
        assert_eq!(n("south korea"), Some("KR"));
        assert_eq!(n("中国"), Some("CN"));
        assert_eq!(n("Australia"), Some("AU"));
        assert_eq!(n("FRA"), Some("FR"));
        assert_eq!(n("Springfield"), None);
        assert_eq!(n("NSW"), None);
        assert_eq!(n(""), None);
    }
}
