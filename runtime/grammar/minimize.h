// DFA minimization for partial transition functions in O(m log n) (Valmari and Lehtinen,
// "Efficient minimization of DFAs with partial transition functions", 2008): equivalent states
// get the same block number. Used by the code-point and byte automata (Moore's algorithm needs
// one round per state on the counter chains that maxLength and whitespace bounds make).
#pragma once

#include <cstdint>
#include <vector>

namespace phx::grammar {

// `trans[s * k + c]` is the target of state s on symbol c, or -1. All states must be reachable
// and co-reachable (trimmed). Returns the number of blocks; (*block)[s] is the block of s.
int MinimizeBlocks(int n, int k, const std::vector<int32_t>& trans,
                   const std::vector<uint8_t>& accept, std::vector<int32_t>* block);

}  // namespace phx::grammar
