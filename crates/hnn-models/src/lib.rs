
pub use tch;
