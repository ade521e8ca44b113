//! Customer segmentation: RFM summaries, scores and named segments; k-means segments.

pub mod rfm;
pub mod rfm_sql;
