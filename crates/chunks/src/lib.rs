//! Chunks: the XOR codec, block chunk files and head chunk files (being written).
