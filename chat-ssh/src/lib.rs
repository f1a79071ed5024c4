//! The SSH frontend (work in progress).
