//! Word lists for address parsing: states and provinces per country, street-type words
//! and their full forms, unit designators, directionals. Lower case; matching folds case.

use rustc_hash::FxHashMap as HashMap;
use std::sync::OnceLock;

/// (country, abbreviation or "", full name) of the states, provinces and counties a postal
/// address names.
pub static STATES: &[(&str, &str, &str)] = &[
    // United States, District of Columbia and territories.
    ("US", "al", "alabama"),
    ("US", "ak", "alaska"),
    ("US", "az", "arizona"),
    ("US", "ar", "arkansas"),
    ("US", "ca", "california"),
    ("US", "co", "colorado"),
    ("US", "ct", "connecticut"),
    ("US", "de", "delaware"),
    ("US", "dc", "district of columbia"),
    ("US", "fl", "florida"),
    ("US", "ga", "georgia"),
    ("US", "hi", "hawaii"),
    ("US", "id", "idaho"),
    ("US", "il", "illinois"),
    ("US", "in", "indiana"),
    ("US", "ia", "iowa"),
    ("US", "ks", "kansas"),
    ("US", "ky", "kentucky"),
    ("US", "la", "louisiana"),
    ("US", "me", "maine"),
    ("US", "md", "maryland"),
    ("US", "ma", "massachusetts"),
    ("US", "mi", "michigan"),
    ("US", "mn", "minnesota"),
    ("US", "ms", "mississippi"),
    ("US", "mo", "missouri"),
    ("US", "mt", "montana"),
    ("US", "ne", "nebraska"),
    ("US", "nv", "nevada"),
    ("US", "nh", "new hampshire"),
    ("US", "nj", "new jersey"),
    ("US", "nm", "new mexico"),
    ("US", "ny", "new york"),
    ("US", "nc", "north carolina"),
    ("US", "nd", "north dakota"),
    ("US", "oh", "ohio"),
    ("US", "ok", "oklahoma"),
    ("US", "or", "oregon"),
    ("US", "pa", "pennsylvania"),
    ("US", "ri", "rhode island"),
    ("US", "sc", "south carolina"),
    ("US", "sd", "south dakota"),
    ("US", "tn", "tennessee"),
    ("US", "tx", "texas"),
    ("US", "ut", "utah"),
    ("US", "vt", "vermont"),
    ("US", "va", "virginia"),
    ("US", "wa", "washington"),
    ("US", "wv", "west virginia"),
    ("US", "wi", "wisconsin"),
    ("US", "wy", "wyoming"),
    ("US", "pr", "puerto rico"),
    ("US", "gu", "guam"),
    ("US", "vi", "virgin islands"),
    ("US", "as", "american samoa"),
    ("US", "mp", "northern mariana islands"),
    // The older abbreviations still written.
    ("US", "ala", ""),
    ("US", "ariz", ""),
    ("US", "ark", ""),
    ("US", "calif", ""),
    ("US", "colo", ""),
    ("US", "conn", ""),
    ("US", "del", ""),
    ("US", "fla", ""),
    ("US", "ill", ""),
    ("US", "ind", ""),
    ("US", "kan", ""),
    ("US", "mass", ""),
    ("US", "mich", ""),
    ("US", "minn", ""),
    ("US", "miss", ""),
    ("US", "neb", ""),
    ("US", "nev", ""),
    ("US", "okla", ""),
    ("US", "ore", ""),
    ("US", "penn", ""),
    ("US", "tenn", ""),
    ("US", "tex", ""),
    ("US", "wash", ""),
    ("US", "wis", ""),
    // Canada.
    ("CA", "ab", "alberta"),
    ("CA", "bc", "british columbia"),
    ("CA", "mb", "manitoba"),
    ("CA", "nb", "new brunswick"),
    ("CA", "nl", "newfoundland and labrador"),
    ("CA", "ns", "nova scotia"),
    ("CA", "nt", "northwest territories"),
    ("CA", "nu", "nunavut"),
    ("CA", "on", "ontario"),
    ("CA", "pe", "prince edward island"),
    ("CA", "qc", "quebec"),
    ("CA", "", "québec"),
    ("CA", "sk", "saskatchewan"),
    ("CA", "yt", "yukon"),
    // Australia.
    ("AU", "nsw", "new south wales"),
    ("AU", "vic", "victoria"),
    ("AU", "qld", "queensland"),
    ("AU", "sa", "south australia"),
    ("AU", "wa", "western australia"),
    ("AU", "tas", "tasmania"),
    ("AU", "nt", "northern territory"),
    ("AU", "act", "australian capital territory"),
    // India.
    ("IN", "", "andhra pradesh"),
    ("IN", "", "arunachal pradesh"),
    ("IN", "", "assam"),
    ("IN", "", "bihar"),
    ("IN", "", "chhattisgarh"),
    ("IN", "", "goa"),
    ("IN", "", "gujarat"),
    ("IN", "", "haryana"),
    ("IN", "", "himachal pradesh"),
    ("IN", "", "jharkhand"),
    ("IN", "", "karnataka"),
    ("IN", "", "kerala"),
    ("IN", "", "madhya pradesh"),
    ("IN", "", "maharashtra"),
    ("IN", "", "manipur"),
    ("IN", "", "meghalaya"),
    ("IN", "", "mizoram"),
    ("IN", "", "nagaland"),
    ("IN", "", "odisha"),
    ("IN", "", "punjab"),
    ("IN", "", "rajasthan"),
    ("IN", "", "sikkim"),
    ("IN", "", "tamil nadu"),
    ("IN", "", "telangana"),
    ("IN", "", "tripura"),
    ("IN", "", "uttar pradesh"),
    ("IN", "", "uttarakhand"),
    ("IN", "", "west bengal"),
    ("IN", "", "delhi"),
    ("IN", "", "new delhi"),
    ("IN", "", "jammu and kashmir"),
    ("IN", "", "ladakh"),
    ("IN", "", "puducherry"),
    ("IN", "", "chandigarh"),
    // Brazil.
    ("BR", "ac", "acre"),
    ("BR", "al", "alagoas"),
    ("BR", "ap", "amapá"),
    ("BR", "am", "amazonas"),
    ("BR", "ba", "bahia"),
    ("BR", "ce", "ceará"),
    ("BR", "df", "distrito federal"),
    ("BR", "es", "espírito santo"),
    ("BR", "go", "goiás"),
    ("BR", "ma", "maranhão"),
    ("BR", "mt", "mato grosso"),
    ("BR", "ms", "mato grosso do sul"),
    ("BR", "mg", "minas gerais"),
    ("BR", "pa", "pará"),
    ("BR", "pb", "paraíba"),
    ("BR", "pr", "paraná"),
    ("BR", "pe", "pernambuco"),
    ("BR", "pi", "piauí"),
    ("BR", "rj", "rio de janeiro"),
    ("BR", "rn", "rio grande do norte"),
    ("BR", "rs", "rio grande do sul"),
    ("BR", "ro", "rondônia"),
    ("BR", "rr", "roraima"),
    ("BR", "sc", "santa catarina"),
    ("BR", "sp", "são paulo"),
    ("BR", "se", "sergipe"),
    ("BR", "to", "tocantins"),
    // Germany (Länder, when written).
    ("DE", "", "baden-württemberg"),
    ("DE", "", "bayern"),
    ("DE", "", "bavaria"),
    ("DE", "", "brandenburg"),
    ("DE", "", "hessen"),
    ("DE", "", "niedersachsen"),
    ("DE", "", "nordrhein-westfalen"),
    ("DE", "", "rheinland-pfalz"),
    ("DE", "", "saarland"),
    ("DE", "", "sachsen"),
    ("DE", "", "sachsen-anhalt"),
    ("DE", "", "schleswig-holstein"),
    ("DE", "", "thüringen"),
    ("DE", "", "mecklenburg-vorpommern"),
    // United Kingdom: the counties most written in addresses.
    ("GB", "", "greater london"),
    ("GB", "", "greater manchester"),
    ("GB", "", "west midlands"),
    ("GB", "", "west yorkshire"),
    ("GB", "", "south yorkshire"),
    ("GB", "", "north yorkshire"),
    ("GB", "", "east sussex"),
    ("GB", "", "west sussex"),
    ("GB", "", "merseyside"),
    ("GB", "", "surrey"),
    ("GB", "", "kent"),
    ("GB", "", "essex"),
    ("GB", "", "hampshire"),
    ("GB", "", "hertfordshire"),
    ("GB", "", "berkshire"),
    ("GB", "", "buckinghamshire"),
    ("GB", "", "oxfordshire"),
    ("GB", "", "cambridgeshire"),
    ("GB", "", "lancashire"),
    ("GB", "", "cheshire"),
    ("GB", "", "devon"),
    ("GB", "", "cornwall"),
    ("GB", "", "dorset"),
    ("GB", "", "somerset"),
    ("GB", "", "norfolk"),
    ("GB", "", "suffolk"),
    ("GB", "", "nottinghamshire"),
    ("GB", "", "derbyshire"),
    ("GB", "", "leicestershire"),
    ("GB", "", "staffordshire"),
    ("GB", "", "warwickshire"),
    ("GB", "", "gloucestershire"),
    ("GB", "", "wiltshire"),
    ("GB", "", "middlesex"),
    ("GB", "", "tyne and wear"),
    ("GB", "", "midlothian"),
    ("GB", "", "lothian"),
    // Ireland: counties, written 'Co. Cork' or 'County Cork' (see `irish_county`).
    ("IE", "", "dublin"),
    ("IE", "", "cork"),
    ("IE", "", "galway"),
    ("IE", "", "kerry"),
    ("IE", "", "limerick"),
    ("IE", "", "wicklow"),
    ("IE", "", "kildare"),
    ("IE", "", "meath"),
    ("IE", "", "donegal"),
    ("IE", "", "mayo"),
    ("IE", "", "clare"),
    ("IE", "", "tipperary"),
    ("IE", "", "wexford"),
    ("IE", "", "waterford"),
    ("IE", "", "kilkenny"),
    ("IE", "", "sligo"),
    ("IE", "", "louth"),
    ("IE", "", "westmeath"),
];

/// Street-type words: (written form, full form). Abbreviations end no road name in
/// the full-form list, so a full form maps to itself.
pub static STREET_TYPES: &[(&str, &str)] = &[
    ("st", "street"),
    ("str", "street"),
    ("street", "street"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("avenue", "avenue"),
    ("rd", "road"),
    ("road", "road"),
    ("dr", "drive"),
    ("drv", "drive"),
    ("drive", "drive"),
    ("ln", "lane"),
    ("lane", "lane"),
    ("blvd", "boulevard"),
    ("boulevard", "boulevard"),
    ("ct", "court"),
    ("crt", "court"),
    ("court", "court"),
    ("pl", "place"),
    ("place", "place"),
    ("cres", "crescent"),
    ("cr", "crescent"),
    ("crescent", "crescent"),
    ("cl", "close"),
    ("close", "close"),
    ("cct", "circuit"),
    ("circuit", "circuit"),
    ("tce", "terrace"),
    ("ter", "terrace"),
    ("terr", "terrace"),
    ("terrace", "terrace"),
    ("pde", "parade"),
    ("parade", "parade"),
    ("way", "way"),
    ("hwy", "highway"),
    ("highway", "highway"),
    ("pkwy", "parkway"),
    ("parkway", "parkway"),
    ("cir", "circle"),
    ("circle", "circle"),
    ("sq", "square"),
    ("square", "square"),
    ("trl", "trail"),
    ("trail", "trail"),
    ("row", "row"),
    ("gr", "grove"),
    ("grove", "grove"),
    ("gdns", "gardens"),
    ("gardens", "gardens"),
    ("walk", "walk"),
    ("mews", "mews"),
    ("esp", "esplanade"),
    ("esplanade", "esplanade"),
    ("aly", "alley"),
    ("alley", "alley"),
    ("fwy", "freeway"),
    ("freeway", "freeway"),
    ("expy", "expressway"),
    ("expressway", "expressway"),
    ("loop", "loop"),
    ("plz", "plaza"),
    ("plaza", "plaza"),
    ("ridge", "ridge"),
    ("rise", "rise"),
    ("hts", "heights"),
    ("heights", "heights"),
    ("green", "green"),
    ("hill", "hill"),
    ("pike", "pike"),
    ("tpke", "turnpike"),
    ("turnpike", "turnpike"),
    ("wharf", "wharf"),
    ("quay", "quay"),
    ("cove", "cove"),
    ("track", "track"),
    ("path", "path"),
];

/// Words that begin a road name in the languages that put the type first, with full forms.
pub static STREET_PREFIXES: &[(&str, &str)] = &[
    ("rue", "rue"),
    ("r", "rue"),
    ("av", "avenue"),
    ("ave", "avenue"),
    ("avenue", "avenue"),
    ("bd", "boulevard"),
    ("bld", "boulevard"),
    ("boulevard", "boulevard"),
    ("chemin", "chemin"),
    ("ch", "chemin"),
    ("allée", "allée"),
    ("impasse", "impasse"),
    ("imp", "impasse"),
    ("quai", "quai"),
    ("place", "place"),
    ("pl", "place"),
    ("route", "route"),
    ("rte", "route"),
    ("avenida", "avenida"),
    ("avda", "avenida"),
    ("calle", "calle"),
    ("c", "calle"),
    ("rua", "rua"),
    ("travessa", "travessa"),
    ("tv", "travessa"),
    ("praça", "praça"),
    ("pç", "praça"),
    ("alameda", "alameda"),
    ("al", "alameda"),
    ("estrada", "estrada"),
    ("rodovia", "rodovia"),
    ("rod", "rodovia"),
    ("via", "via"),
    ("viale", "viale"),
    ("piazza", "piazza"),
    ("p.za", "piazza"),
    ("corso", "corso"),
    ("largo", "largo"),
];

/// German and Dutch street-type endings and abbreviations: a word ending in one is a road
/// (`Hauptstraße`, `Keizersgracht`); `str.` is `straße`.
pub static STREET_SUFFIXES_DE_NL: &[&str] = &[
    "straße", "strasse", "str.", "str", "weg", "gasse", "allee", "platz", "ring", "damm", "ufer", "chaussee", "steig", "pfad", "straat", "laan", "gracht",
    "plein", "kade", "singel", "dijk", "dreef", "hof",
];

/// Unit designators, with the word `normalize_address` writes for them.
pub static UNIT_DESIGNATORS: &[(&str, &str)] = &[
    ("apt", "unit"),
    ("apartment", "unit"),
    ("appt", "unit"),
    ("apto", "unit"),
    ("unit", "unit"),
    ("u", "unit"),
    ("flat", "unit"),
    ("#", "unit"),
    ("suite", "suite"),
    ("ste", "suite"),
    ("level", "level"),
    ("lvl", "level"),
    ("og", "etage"),
    ("stock", "etage"),
    ("fl", "floor"),
    ("flr", "floor"),
    ("floor", "floor"),
    ("rm", "room"),
    ("room", "room"),
    ("bldg", "building"),
    ("building", "building"),
    ("dept", "department"),
    ("lot", "lot"),
    ("whg", "wohnung"),
    ("wohnung", "wohnung"),
    ("etage", "etage"),
    ("bureau", "bureau"),
    ("sala", "sala"),
    ("conj", "conjunto"),
    ("cj", "conjunto"),
    ("andar", "andar"),
];

/// Directions written before or after a road name, with full forms.
pub static DIRECTIONALS: &[(&str, &str)] = &[
    ("n", "north"),
    ("s", "south"),
    ("e", "east"),
    ("w", "west"),
    ("ne", "northeast"),
    ("nw", "northwest"),
    ("se", "southeast"),
    ("sw", "southwest"),
    ("north", "north"),
    ("south", "south"),
    ("east", "east"),
    ("west", "west"),
    ("northeast", "northeast"),
    ("northwest", "northwest"),
    ("southeast", "southeast"),
    ("southwest", "southwest"),
];

/// Korean provinces and metropolitan cities by the short names people write (서울 for
/// 서울특별시).
pub static KR_SHORT_STATES: &[&str] =
    &["서울", "부산", "대구", "인천", "광주", "대전", "울산", "세종", "경기", "강원", "충북", "충남", "전북", "전남", "경북", "경남", "제주"];

/// Words that designate a floor, written after its number ("2nd Floor", "3. OG", "3층").
pub static FLOOR_WORDS: &[&str] = &["floor", "fl", "flr", "level", "og", "etage", "étage", "stock", "andar", "piso"];

/// A word of the (written, full) lists as a hash key: its lower-case bytes and its length
/// packed into one integer. No entry is longer than `WordKey::MAX_LEN` bytes, so a word
/// is looked up without allocating or hashing a string.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct WordKey(u128);

impl WordKey {
    /// The last of the 16 bytes holds the length: "ab" and "ab\0" are different keys.
    const MAX_LEN: usize = 15;

    /// The key of `word`, lower-cased; `None` when it is too long to be an entry.
    fn folded(word: &str) -> Option<WordKey> {
        let mut bytes = [0u8; 16];
        if word.is_ascii() {
            if word.len() > Self::MAX_LEN {
                return None;
            }
            for (key, b) in bytes.iter_mut().zip(word.bytes()) {
                *key = b.to_ascii_lowercase();
            }
            bytes[15] = word.len() as u8;
        } else {
            let lower = word.to_lowercase();
            bytes.get_mut(..lower.len()).filter(|_| lower.len() <= Self::MAX_LEN)?.copy_from_slice(lower.as_bytes());
            bytes[15] = lower.len() as u8;
        }
        Some(WordKey(u128::from_le_bytes(bytes)))
    }
}

/// A word's full forms in the (written, full) lists above: one entry per written word, so
/// a word is looked up once for all four lists.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WordForms {
    pub street_type: Option<&'static str>,
    pub street_prefix: Option<&'static str>,
    pub unit_designator: Option<&'static str>,
    pub directional: Option<&'static str>,
}

/// `word`'s full forms (none when it is in no list), case folded and a trailing dot
/// ignored. The lists are indexed once per process: parsing looks words up many times per
/// address.
pub fn forms(word: &str) -> &'static WordForms {
    static INDEX: OnceLock<HashMap<WordKey, WordForms>> = OnceLock::new();
    static NONE: WordForms = WordForms { street_type: None, street_prefix: None, unit_designator: None, directional: None };
    let index = INDEX.get_or_init(|| {
        let mut index: HashMap<WordKey, WordForms> = HashMap::default();
        type FormOf = fn(&mut WordForms) -> &mut Option<&'static str>;
        let lists: [(_, FormOf); 4] = [
            (STREET_TYPES, |f| &mut f.street_type),
            (STREET_PREFIXES, |f| &mut f.street_prefix),
            (UNIT_DESIGNATORS, |f| &mut f.unit_designator),
            (DIRECTIONALS, |f| &mut f.directional),
        ];
        for (list, form) in lists {
            for (written, full) in list {
                // Every entry fits a key (see the test `every_entry_fits_a_word_key`).
                if let Some(key) = WordKey::folded(written) {
                    form(index.entry(key).or_default()).get_or_insert(full);
                }
            }
        }
        index
    });
    let w = word.strip_suffix('.').unwrap_or(word);
    // No entry starts with a digit (house numbers and postcodes are most of the words
    // asked about) or is longer than 24 bytes written (or `WordKey::MAX_LEN` folded).
    if w.len() > 24 || w.starts_with(|c: char| c.is_ascii_digit()) {
        return &NONE;
    }
    WordKey::folded(w).and_then(|key| index.get(&key)).unwrap_or(&NONE)
}

/// The countries with a state, province or county named `name` (lower case): one probe
/// answers for every country the parser asks about.
pub fn state_countries(name: &str) -> &'static [&'static str] {
    static INDEX: OnceLock<HashMap<&'static str, Vec<&'static str>>> = OnceLock::new();
    let index = INDEX.get_or_init(|| {
        let mut index: HashMap<&'static str, Vec<&'static str>> = HashMap::default();
        for (c, abbr, full) in STATES {
            for key in [abbr, full] {
                if !key.is_empty() {
                    index.entry(key).or_default().push(c);
                }
            }
        }
        index
    });
    index.get(name).map_or(&[], Vec::as_slice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_fits_a_word_key() {
        type FormOf = fn(WordForms) -> Option<&'static str>;
        let lists: [(_, FormOf); 4] = [
            (STREET_TYPES, |f| f.street_type),
            (STREET_PREFIXES, |f| f.street_prefix),
            (UNIT_DESIGNATORS, |f| f.unit_designator),
            (DIRECTIONALS, |f| f.directional),
        ];
        for (list, form) in lists {
            for (written, full) in list {
                assert!(WordKey::folded(written).is_some(), "{written}");
                assert_eq!(form(*forms(written)), Some(*full), "{written}");
            }
        }
        assert_eq!(forms("St.").street_type, Some("street"));
        assert_eq!(forms("St.").unit_designator, None);
        assert_eq!(forms("Ave").street_prefix, Some("avenue"));
        assert_eq!(forms("ALLÉE").street_prefix, Some("allée"));
        assert_eq!(*forms("st\0"), WordForms::default());
        assert_eq!(*forms("streetstreetstreet"), WordForms::default());
    }

    #[test]
    fn state_names_are_lower_case_without_dots() {
        // The parser looks a name written with dots ("N.Y.") up without them only.
        for (_, abbr, full) in STATES {
            for name in [abbr, full] {
                assert!(!name.contains('.') && name.to_lowercase() == *name, "{name}");
            }
        }
    }
}
