// Byte-level DFAs: the lexemes ("terminals") the matcher runs. A terminal is a sequence of
// pieces (bounded JSON whitespace, fixed bytes, a code-point automaton written as UTF-8, or a
// code-point automaton written as the inside of a JSON string with every escape JSON allows),
// compiled to one minimized, trimmed DFA over bytes with byte classes.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/grammar/cpdfa.h"

namespace phx::grammar {

struct ByteDfa {
  static constexpr int32_t kDead = -1;
  int32_t start = kDead;
  int32_t ncls = 1;
  std::array<uint8_t, 256> cls{};
  std::vector<int32_t> next;  // state * ncls + class
  std::vector<uint8_t> accept;
  std::vector<uint8_t> has_out;  // some live transition leaves the state

  int num_states() const { return static_cast<int>(accept.size()); }
  int32_t Step(int32_t s, uint8_t b) const {
    return next[static_cast<size_t>(s) * ncls + cls[b]];
  }
  bool Matches(std::string_view bytes) const;
  size_t MemoryBytes() const { return next.size() * 4 + accept.size() * 2 + 256; }
};

struct TermPiece {
  enum class Kind : uint8_t { kWs, kBytes, kUtf8, kJsonContent };
  Kind kind = Kind::kBytes;
  int ws_max = 0;                        // kWs: 0..ws_max of space, \t, \n, \r
  std::string bytes;                     // kBytes
  std::shared_ptr<const CpDfa> dfa;      // kUtf8, kJsonContent
  bool lone_surrogates = false;          // kJsonContent: also \uD800-\uDFFF alone
};

struct TerminalSpec {
  std::vector<TermPiece> pieces;

  TerminalSpec& Ws(int max);
  TerminalSpec& Bytes(std::string_view b);
  TerminalSpec& Utf8(std::shared_ptr<const CpDfa> d);
  TerminalSpec& JsonContent(std::shared_ptr<const CpDfa> d, bool lone_surrogates = false);
  // Canonical text (terminal interning and caches).
  std::string Key() const;
};

// Compiles `spec`; an empty language gives a DFA with start kDead. The pieces are compiled
// (and cached) one by one and joined directly when the join is deterministic (as JSON tokens
// are: blanks, then a quote, ...); otherwise the whole spec goes through BuildTerminalNfa.
absl::StatusOr<ByteDfa> BuildTerminal(const TerminalSpec& spec, int max_states = 60000);
// The general construction: one NFA, subset construction, minimization.
absl::StatusOr<ByteDfa> BuildTerminalNfa(const TerminalSpec& spec, int max_states = 60000);

// The bytes of `d`'s strings directly: UTF-8, or (json) the inside of a JSON string with every
// escape JSON allows; `lone_surrogates` also takes \uD800-\uDFFF alone (as U+FFFD would go).
ByteDfa EncodeCpDfa(const CpDfa& d, bool json, bool lone_surrogates);

// The same language without the empty string (a fresh non-accepting start state).
ByteDfa WithoutEmpty(const ByteDfa& d);

// UTF-8 byte-range sequences for the scalar values in [lo, hi] (surrogates skipped).
using ByteSeq = std::vector<std::pair<uint8_t, uint8_t>>;
void Utf8Sequences(uint32_t lo, uint32_t hi, std::vector<ByteSeq>* out);

}  // namespace phx::grammar
