//! Customer segmentation: RFM summaries, scores and named segments; k-means segments.

pub mod kmeans;
pub mod model;
pub mod rfm;
pub mod rfm_sql;
pub mod silhouette;
pub mod sql;
