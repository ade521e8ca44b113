//! The model registry's storage format: every stored model is an envelope
//!
//! ```text
//! magic "PGCRMMDL" | format version u16 | kind u8 | body length u64 | body | CRC-32 u32
//! ```
//!
//! (little-endian; the CRC covers everything before it) around a bincode body. A model
//! whose bytes fail any of these checks is reported as corrupt (SQLSTATE XX001, naming
//! the model) and never scored.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

use crate::error::{CrmError, Result};

pub mod sql;

/// For a field appended at the end of a stored (bincode) struct: bincode names no field,
/// so a model stored before the field existed ends where the field would start, and
/// reading it fails; that failure means the field is absent, and it takes its default.
/// Only for the last fields of the outermost stored struct: elsewhere the bytes after
/// it would be misread.
pub fn appended<'de, D: Deserializer<'de>, T: Deserialize<'de> + Default>(deserializer: D) -> std::result::Result<T, D::Error> {
    Ok(T::deserialize(deserializer).unwrap_or_default())
}

const MAGIC: &[u8; 8] = b"PGCRMMDL";
/// Bump when a body's layout changes; readers keep accepting the versions they know.
pub const FORMAT_VERSION: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Classifier = 1,
    Segments = 2,
    Recommender = 3,
    Clv = 4,
    Regressor = 5,
    TextClassifier = 6,
    Forecast = 7,
    Matcher = 8,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Classifier => "classifier",
            Kind::Segments => "segments",
            Kind::Recommender => "recommender",
            Kind::Clv => "clv",
            Kind::Regressor => "regressor",
            Kind::TextClassifier => "text_classifier",
            Kind::Forecast => "forecast",
            Kind::Matcher => "matcher",
        }
    }

    /// The SQL function that trains models of this kind.
    pub fn training_function(self) -> &'static str {
        match self {
            Kind::Classifier => "train_classifier",
            Kind::Segments => "train_segments",
            Kind::Recommender => "train_recommender",
            Kind::Clv => "train_clv",
            Kind::Regressor => "train_regressor",
            Kind::TextClassifier => "train_text_classifier",
            Kind::Forecast => "train_forecast",
            Kind::Matcher => "train_matcher",
        }
    }

    fn from_tag(tag: u8) -> Option<Kind> {
        Some(match tag {
            1 => Kind::Classifier,
            2 => Kind::Segments,
            3 => Kind::Recommender,
            4 => Kind::Clv,
            5 => Kind::Regressor,
            6 => Kind::TextClassifier,
            7 => Kind::Forecast,
            8 => Kind::Matcher,
            _ => return None,
        })
    }
}

pub fn encode<T: Serialize>(kind: Kind, model: &T) -> Result<Vec<u8>> {
    let body = bincode::serialize(model).map_err(|e| CrmError::Unsupported(format!("model cannot be serialised: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + 27);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.push(kind as u8);
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&body);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// A model type the registry stores: its kind, and the structural checks that decoding
/// alone cannot make (tree child indices in range and acyclic, array lengths that agree).
/// Stored bytes are not trusted: a hand-made or corrupted row must give XX001, never a
/// hang, a stack overflow or an out-of-bounds read when the model is used.
pub trait StoredModel: DeserializeOwned + 'static {
    const KIND: Kind;

    /// Why the decoded model cannot be used, if it cannot.
    fn validate(&self) -> std::result::Result<(), String>;
}

/// Decodes and validates a stored model of type `T`; `who` names it in errors.
pub fn decode_model<T: StoredModel>(bytes: &[u8], who: &str) -> Result<T> {
    let model: T = decode(bytes, T::KIND, who)?;
    model.validate().map_err(|why| CrmError::CorruptModel(format!("stored {who} is corrupt: {why}")))?;
    Ok(model)
}

/// `who` names the model in errors, e.g. `model "churn" version 3`.
pub fn decode<T: DeserializeOwned>(bytes: &[u8], expected: Kind, who: &str) -> Result<T> {
    let corrupt = |why: &str| CrmError::CorruptModel(format!("stored {who} is corrupt: {why}"));
    if bytes.len() < 8 + 2 + 1 + 8 + 4 || &bytes[..8] != MAGIC {
        return Err(corrupt("not a pg_crm model (bad header)"));
    }
    let (content, crc) = bytes.split_at(bytes.len() - 4);
    let stored_crc = u32::from_le_bytes(crc.try_into().map_err(|_| corrupt("truncated"))?);
    if crc32fast::hash(content) != stored_crc {
        return Err(corrupt("checksum mismatch (the bytes were changed or truncated)"));
    }
    let version = u16::from_le_bytes([content[8], content[9]]);
    if version == 0 || version > FORMAT_VERSION {
        return Err(CrmError::CorruptModel(format!(
            "stored {who} has model format {version}; this pg_crm reads formats 1..{FORMAT_VERSION} (upgrade the extension)"
        )));
    }
    let kind = Kind::from_tag(content[10]).ok_or_else(|| corrupt("unknown model kind"))?;
    if kind != expected {
        return Err(CrmError::InvalidArgument(format!("{who} is a {} model, not a {} model", kind.name(), expected.name())));
    }
    let len = u64::from_le_bytes(content[11..19].try_into().map_err(|_| corrupt("truncated"))?) as usize;
    let body = &content[19..];
    if body.len() != len {
        return Err(corrupt("length mismatch"));
    }
    // The options of bincode::serialize, limited to the body's own size: a corrupted
    // length prefix ends in an error, not a read or an allocation past the bytes given
    // (bincode also preallocates at most 4,096 elements per claimed length).
    use bincode::Options;
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .allow_trailing_bytes()
        .with_limit(body.len() as u64)
        .deserialize(body)
        .map_err(|e| corrupt(&format!("undecodable body ({e})")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Toy {
        weights: Vec<f64>,
        name: String,
    }

    #[test]
    fn round_trip_and_every_corruption_is_detected() {
        let toy = Toy { weights: vec![1.5, -2.0, 3.25], name: "x".into() };
        let bytes = encode(Kind::Classifier, &toy).unwrap();
        assert_eq!(decode::<Toy>(&bytes, Kind::Classifier, "model \"t\" version 1").unwrap(), toy);
        // flip each byte in turn: always an XX001 error, never a wrong model
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x5a;
            let err = decode::<Toy>(&bad, Kind::Classifier, "model \"t\" version 1").unwrap_err();
            assert_eq!(err.sqlstate(), "XX001", "byte {i}: {err}");
            assert!(err.message().contains("model \"t\" version 1"));
        }
        for cut in [0, 5, 20, bytes.len() - 1] {
            assert_eq!(decode::<Toy>(&bytes[..cut], Kind::Classifier, "m").unwrap_err().sqlstate(), "XX001");
        }
        assert_eq!(decode::<Toy>(&bytes, Kind::Segments, "m").unwrap_err().sqlstate(), "22023");
    }

    #[test]
    fn appended_fields_default_in_older_bytes() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct Before {
            name: String,
            values: Vec<f64>,
        }
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct After {
            name: String,
            values: Vec<f64>,
            #[serde(default, deserialize_with = "appended")]
            covariates: Vec<String>,
        }
        let before = Before { name: "x".into(), values: vec![1.0, 2.0] };
        let after: After = bincode::deserialize(&bincode::serialize(&before).unwrap()).unwrap();
        assert_eq!(after, After { name: "x".into(), values: vec![1.0, 2.0], covariates: Vec::new() });
        // Through the registry's envelope and reader (bincode with a size limit) likewise.
        let stored = encode(Kind::Forecast, &before).unwrap();
        assert_eq!(decode::<After>(&stored, Kind::Forecast, "model").unwrap(), after);
        let full = After { covariates: vec!["holiday".into()], ..after };
        assert_eq!(bincode::deserialize::<After>(&bincode::serialize(&full).unwrap()).unwrap(), full);
    }
}
