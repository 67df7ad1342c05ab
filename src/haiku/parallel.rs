//! Running one function over many items on all cores, in input order; the helper lives in
//! [`crate::parallel`] (the publisher uses it for every format) and is re-exported here for the Haiku
//! tools that always found it here.

pub use crate::parallel::{map_in_order, map_in_order_on};
