//! Data preparation: cleaning contact data and comparing strings.
//!
//! Every function here is total: any text in, a value or `None` out, never an error and
//! never a panic. Only the arguments that choose behaviour (`default_region`,
//! `field_order`, `method`) can be rejected, as `CrmError::InvalidArgument`.

pub mod address;
mod address_tables;
pub mod country;
pub mod date;
pub mod email;
pub mod name;
pub mod phone;
pub mod postcode;
pub mod similarity;
pub mod sql;
pub mod text;

#[cfg(test)]
mod corpus_tests;
