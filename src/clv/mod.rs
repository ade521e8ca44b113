//! Customer lifetime value: how many purchases a customer will still make (BG/NBD or
//! MBG/NBD), whether he is still a customer at all (P(alive)), what he will spend per
//! purchase (Gamma–Gamma), and the discounted value of it all over a horizon.
//!
//! The algorithm code here does not touch Postgres; `sql.rs` is the SQL surface. Times in
//! `Customer` are in the model's time unit; the SQL surface speaks days.

pub mod model;
pub mod purchases;
pub mod residual;
pub mod spend;
pub mod sql;

/// One customer's summary as CLV models read it (the CLV literature's x, t_x, T, m).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Customer {
    /// Repeat purchases: purchase days after the first.
    pub frequency: f64,
    /// Time from the first purchase to the last (0 for a one-time buyer).
    pub recency: f64,
    /// Time from the first purchase to the end of observation.
    pub age: f64,
    /// Mean amount per purchase day.
    pub monetary: f64,
}
