// The record module's public header: versions and the hybrid logical clock that issues
// them, the change record every successful mutation produces, the Sink through which
// storage and engine publish it, and the versioned, checksummed codec that replication
// and persistence share (one record, one codec; docs/FORMATS.md). Other modules include
// only this header; the files it includes are split by role to stay readable.
//
//   version.h       Version {hlc, node}, HLC layout and helpers
//   hybrid_clock.h  HybridClock: Next() for local mutations, Observe() for peers'
//   change.h        Kind, ChangeView, Change, Sink, key/value limits
//   codec.h         EncodeChange/DecodeChange, EncodeBatch/DecodeBatch, DecodeResult
#pragma once

#include "record/change.h"
#include "record/codec.h"
#include "record/hybrid_clock.h"
#include "record/version.h"
