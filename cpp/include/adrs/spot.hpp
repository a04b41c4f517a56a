// Spot-instance scheduling simulator ("Can't Be Late", NSDI'24), one region and many.
//
// The rules are those of the published reference simulators, stated in
// shared/specs/spot.md (sections 1.3-1.8 and 6): one tick observes, books the previous
// interval's progress, asks the policy, applies the strong guarantee and the safety
// step, charges restart overhead, and moves the environment on. `Fidelity::kReference`
// keeps the reference's quirks; `Fidelity::kCorrected` fixes them (docs/spot.md has the
// table). simulators/spot.py mirrors this file in Numba, and the tests prove the two agree
// with each other and with a pure-Python oracle.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace adrs::spot {

enum ClusterType : int64_t { kNone = 0, kSpot = 1, kOnDemand = 2 };

enum class Fidelity : int { kReference = 0, kCorrected = 1 };

// Observation layout; simulators/spot_layout.py is the documented twin of this block.
namespace obs {
constexpr int kTime = 0;
constexpr int kProgress = 1;
constexpr int kRemainingOverhead = 2;
constexpr int kHasSpot = 3;
constexpr int kClusterType = 4;
constexpr int kLastClusterType = 5;
constexpr int kDeadline = 6;
constexpr int kTaskDuration = 7;
constexpr int kRestartOverhead = 8;
constexpr int kGap = 9;
constexpr int kCurrentRegion = 10;
constexpr int kNumRegions = 11;
constexpr int kRegionHasSpot = 12;
inline int size(int64_t num_regions) { return kRegionHasSpot + 2 * static_cast<int>(num_regions); }
}  // namespace obs

constexpr int64_t kMemSize = 64;

// A compiled candidate returns this when its body raised (the bridge catches the
// exception inside the cfunc, which cannot propagate one).
constexpr int64_t kPolicyRaised = std::numeric_limits<int64_t>::min();

// Prices of the reference simulators ($/hour). The on-demand price is the reference's
// 3.06 for every device; the single-region spot price is computed exactly as there.
constexpr double kOnDemandPrice = 3.06;
inline double reference_spot_price() {
  volatile double cost_k = 3.06 / 0.9731;  // volatile: keep the reference's two roundings
  return 3.06 / cost_k;
}

enum class RunStatus : int64_t {
  kOk = 0,
  kTraceOverrun = 1,   // the job outlived the trace
  kInvalidAction = 2,  // the policy returned something that is not an action
  kPolicyError = 3,    // the policy raised
  kReplayMismatch = 4,  // a replayed run asked for more, or fewer, actions than recorded
};

struct Scenario {
  double task_duration;     // seconds
  double deadline;          // seconds
  double restart_overhead;  // seconds
};

struct RegionTrace {
  const uint8_t* available;  // 1 = spot available at tick k
  const double* prices;      // spot $/h at tick k, NaN when the trace has none
  int64_t n_ticks;
};

struct RunOutcome {
  double cost = std::numeric_limits<double>::quiet_NaN();
  int64_t ticks = 0;        // history entries billed (the golden `ticks`)
  int64_t finish_tick = -1;  // tick at which the last work was booked
  int64_t spot_ticks = 0;
  int64_t on_demand_ticks = 0;
  int64_t final_region = 0;
  RunStatus status = RunStatus::kOk;
  int64_t status_tick = -1;  // where a failure happened
  int64_t bad_action = 0;    // the offending action when kInvalidAction
};

// Per-run scratch kept between runs so a batch allocates once.
struct Workspace {
  std::vector<double> obs;
  std::vector<double> mem;
  std::vector<uint8_t> history;       // cluster type of each billed interval
  std::vector<int32_t> history_region;  // region it ran in
};

inline double hours_to_seconds(double hours) { return hours * 3600.0; }

// True when `seconds_needed` fits before `seconds_left` with more than two ticks to spare.
// That proves ceil(needed / gap) < floor(left / gap) without dividing: the margin absorbs
// every rounding of the exact test for any gap of at least a second (check_scenario).
// Only a fast path; when it is false the caller runs the exact test.
inline bool clearly_fits(double seconds_needed, double seconds_left, double gap) {
  return seconds_needed + 4.0 * gap < seconds_left;
}

// Throws std::invalid_argument when the scenario cannot be simulated.
inline void check_scenario(const Scenario& s, const RegionTrace* regions, int64_t n_regions,
                           double gap) {
  auto finite_positive = [](double x) { return std::isfinite(x) && x > 0; };
  if (!finite_positive(s.task_duration))
    throw std::invalid_argument("task duration must be positive");
  if (!finite_positive(s.deadline)) throw std::invalid_argument("deadline must be positive");
  if (!std::isfinite(s.restart_overhead) || s.restart_overhead < 0)
    throw std::invalid_argument("restart overhead must be zero or positive");
  if (!std::isfinite(gap) || gap < 1.0)
    throw std::invalid_argument("tick length must be at least 1 second");
  if (n_regions < 1) throw std::invalid_argument("a run needs at least one region");
  if (s.task_duration + s.restart_overhead > s.deadline)
    throw std::invalid_argument(
        "impossible scenario: duration " + std::to_string(s.task_duration / 3600.0) +
        " h plus restart overhead " + std::to_string(s.restart_overhead / 3600.0) +
        " h exceeds the deadline " + std::to_string(s.deadline / 3600.0) + " h");
  for (int64_t r = 0; r < n_regions; ++r) {
    // The reference evaluator's own filter: the trace must cover the deadline.
    if (static_cast<double>(regions[r].n_ticks) * gap / 3600.0 + 1e-9 < s.deadline / 3600.0)
      throw std::invalid_argument(
          "trace too short: " + std::to_string(regions[r].n_ticks) + " ticks of " +
          std::to_string(gap) + " s do not cover the deadline of " +
          std::to_string(s.deadline / 3600.0) + " h");
  }
}

struct Bill {
  double cost = 0.0;
  int64_t spot_ticks = 0;
  int64_t on_demand_ticks = 0;
};

// Sums a run's bill in history order. Entry i is the interval [i-1, i) (entry 0 is always
// NONE). With history_region (corrected fidelity) a spot entry costs the price of the
// region it ran in at tick i-1; otherwise every spot entry costs spot_term.
// Out of line on purpose: inlined into the simulation loop, the running sum was spilled to
// the stack and every addition paid a store-to-load round trip (a third of the run time).
[[gnu::noinline]] inline Bill bill_history(const uint8_t* history, const int32_t* history_region,
                                           int64_t n, double spot_term, double on_demand_term,
                                           const RegionTrace* regions, double gap,
                                           double fallback_spot_price) {
  Bill bill;
  double cost = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (history[i] == kSpot) {
      ++bill.spot_ticks;
      if (history_region) {
        const RegionTrace& r = regions[history_region[i]];
        const double p = r.prices ? r.prices[i - 1] : fallback_spot_price;
        cost += (std::isnan(p) ? fallback_spot_price : p) * gap / 3600.0;
      } else {
        cost += spot_term;
      }
    } else if (history[i] == kOnDemand) {
      ++bill.on_demand_ticks;
      cost += on_demand_term;
    }
  }
  bill.cost = cost;
  return bill;
}

// Runs one job on one trace (one region) or one aligned group of traces (many).
//
// Policy: callable as `int64_t(double* obs, int64_t n_obs, double* mem, int64_t n_mem)`.
// multi_region selects the multi-region simulator's billing and trace-end rules and
// allows region moves. When history_out is given it receives 'N'/'S'/'O' per entry.
template <class Policy>
RunOutcome simulate_run(const RegionTrace* regions, int64_t n_regions, double gap,
                        const Scenario& s, bool multi_region, Fidelity fidelity, Policy& policy,
                        Workspace& ws, std::string* history_out = nullptr) {
  const bool corrected = fidelity == Fidelity::kCorrected;
  const double task = s.task_duration, deadline = s.deadline, overhead = s.restart_overhead;
  const double fallback_spot_price = reference_spot_price();
  const int n_obs = obs::size(n_regions);

  ws.obs.assign(n_obs, 0.0);
  ws.mem.assign(kMemSize, 0.0);
  // Raw buffers: a uint8_t store through push_back may alias anything, which made the
  // compiler reload the trace pointers after every tick.
  ws.history.resize(regions[0].n_ticks + 1);
  ws.history_region.resize(corrected ? regions[0].n_ticks + 1 : 0);
  uint8_t* __restrict history = ws.history.data();
  int32_t* __restrict history_region = ws.history_region.data();
  int64_t n_history = 0;
  double* o = ws.obs.data();
  o[obs::kDeadline] = deadline;
  o[obs::kTaskDuration] = task;
  o[obs::kRestartOverhead] = overhead;
  o[obs::kGap] = gap;
  o[obs::kNumRegions] = static_cast<double>(n_regions);

  RunOutcome out;
  int64_t env_type = kNone;
  int64_t region = 0;
  double progress = 0.0;
  double rro = 0.0;  // remaining restart overhead
  auto spot_price = [&](int64_t r, int64_t tick) {
    const double p = regions[r].prices ? regions[r].prices[tick] : fallback_spot_price;
    return std::isnan(p) ? fallback_spot_price : p;
  };
  auto failed = [&](RunStatus status, int64_t tick) {
    out.status = status;
    out.status_tick = tick;
    out.final_region = region;
    return out;
  };

  // Each pass is one observed tick (spec 6.3 steps 1-7). Once the work is all booked,
  // one last pass observes and asks the policy again, as the reference does.
  bool final = false;
  for (int64_t k = 0;; ++k) {
    if (k >= regions[region].n_ticks) {
      // Reference single region: the simulator swallows the read error; in the main loop
      // it then never ends (its evaluator kills it), after completion it skips the tick.
      if (final && (corrected ? env_type == kNone : !multi_region)) break;
      return failed(RunStatus::kTraceOverrun, k);
    }
    const bool has = regions[region].available[k] != 0;
    const int64_t last = env_type;
    history[n_history] = static_cast<uint8_t>(last);
    if (corrected) history_region[n_history] = static_cast<int32_t>(region);
    ++n_history;
    if (env_type == kSpot && !has) env_type = kNone;  // preemption

    if (last != kNone) {
      double done = std::max(gap - rro, 0.0);
      rro -= gap - done;
      if (rro < 1e-3) rro = 0.0;
      done = std::min(done, task - progress);
      progress += done;
    }

    const double t = static_cast<double>(k) * gap;
    o[obs::kTime] = t;
    o[obs::kProgress] = progress;
    o[obs::kRemainingOverhead] = rro;
    o[obs::kHasSpot] = has ? 1.0 : 0.0;
    o[obs::kClusterType] = static_cast<double>(env_type);
    o[obs::kLastClusterType] = static_cast<double>(last);
    o[obs::kCurrentRegion] = static_cast<double>(region);
    for (int64_t r = 0; r < n_regions; ++r) {
      o[obs::kRegionHasSpot + r] = regions[r].available[k] ? 1.0 : 0.0;
      o[obs::kRegionHasSpot + n_regions + r] = spot_price(r, k);
    }
    const int64_t action = policy(o, n_obs, ws.mem.data(), kMemSize);
    if (action == kPolicyRaised) return failed(RunStatus::kPolicyError, k);
    int64_t request = action;
    const int64_t region_before = region;
    if (action >= 3 && multi_region && action / 3 - 1 < n_regions) {
      request = action % 3;
      region = action / 3 - 1;
    } else if (action < 0 || action >= 3) {
      out.bad_action = action;
      return failed(RunStatus::kInvalidAction, k);
    }

    // Strong guarantee: in the critical zone, run on demand (or keep spot).
    const double remaining = task - progress;
    if (remaining > 1e-3 && !clearly_fits(remaining + overhead, deadline - t, gap)) {
      const double need = std::ceil((remaining + overhead) / gap) * gap;
      const double time_left = std::floor((deadline - t) / gap) * gap;
      if (need >= time_left) {
        bool keep_spot = last == kSpot && rro < 1e-3;
        // The reference keeps SPOT even when it was just preempted, losing the tick.
        if (corrected) keep_spot = keep_spot && regions[region].available[k];
        request = keep_spot ? kSpot : kOnDemand;
      }
    }
    if (request == kSpot && !regions[region].available[k]) request = kNone;  // safety

    const int64_t current = (last == kSpot && !has) ? kNone : last;
    const bool moved = corrected && region != region_before;
    if (request != kNone && (current != request || moved)) rro = overhead;

    if (final) {
      env_type = kNone;
      break;
    }
    env_type = request;
    if (!(task - progress > 1e-8)) {
      final = true;
      out.finish_tick = k;
    }
  }
  out.final_region = region;

  // Billing: each entry is (price * gap) / 3600, summed left to right as CPython 3.11 does.
  const double spot_term =
      multi_region ? spot_price(region, 0) * gap / 3600.0 : fallback_spot_price * gap / 3600.0;
  const int64_t n = n_history;
  const Bill bill = bill_history(history, corrected ? history_region : nullptr,
                                 n, spot_term, kOnDemandPrice * gap / 3600.0, regions, gap,
                                 fallback_spot_price);
  out.spot_ticks = bill.spot_ticks;
  out.on_demand_ticks = bill.on_demand_ticks;
  const double cost = bill.cost;
  out.cost = cost;
  out.ticks = n;
  if (history_out) {
    history_out->resize(n);
    for (int64_t i = 0; i < n; ++i) (*history_out)[i] = "NSO"[history[i]];
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Built-in policies. They read only the observation, exactly as a candidate does, so
// each equals its Python program in python/adrs/problems/spot/programs/.

struct View {
  const double* o;
  double t() const { return o[obs::kTime]; }
  double progress() const { return o[obs::kProgress]; }
  double remaining() const { return o[obs::kTaskDuration] - o[obs::kProgress]; }
  double rro() const { return o[obs::kRemainingOverhead]; }
  bool has_spot() const { return o[obs::kHasSpot] != 0.0; }
  int64_t current() const { return static_cast<int64_t>(o[obs::kClusterType]); }
  int64_t last() const { return static_cast<int64_t>(o[obs::kLastClusterType]); }
  double deadline() const { return o[obs::kDeadline]; }
  double duration() const { return o[obs::kTaskDuration]; }
  double overhead() const { return o[obs::kRestartOverhead]; }
  double gap() const { return o[obs::kGap]; }
  int64_t region() const { return static_cast<int64_t>(o[obs::kCurrentRegion]); }
  int64_t num_regions() const { return static_cast<int64_t>(o[obs::kNumRegions]); }
  bool region_has_spot(int64_t r) const { return o[obs::kRegionHasSpot + r] != 0.0; }
};

inline int64_t move_to(int64_t region, int64_t type) { return type + 3 * (region + 1); }

struct AlwaysOnDemand {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    return View{o}.remaining() <= 1e-8 ? kNone : kOnDemand;
  }
};

// The reference single-region seed (spec 4.1).
struct GreedySeed {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    const View v{o};
    const double remaining = v.remaining();
    if (remaining <= 1e-8) return kNone;
    if (clearly_fits(remaining + 2 * v.overhead(), v.deadline() - v.t(), v.gap()))
      return v.has_spot() ? kSpot : kNone;
    const double left = std::max(0.0, std::floor((v.deadline() - v.t()) / v.gap()));
    if (std::ceil((remaining + v.overhead()) / v.gap()) >= left) return kOnDemand;
    if (std::ceil((remaining + 2 * v.overhead()) / v.gap()) >= left)
      return (v.last() == kSpot && v.has_spot()) ? kSpot : kOnDemand;
    return v.has_spot() ? kSpot : kNone;
  }
};

// The reference's simplified Uniform Progress seed (spec 4.2).
struct UniformProgressSimplified {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    const View v{o};
    const double remaining = v.remaining();
    if (remaining <= 1e-8) return kNone;
    const double t = v.t(), D = v.duration(), T = v.deadline(), d = v.overhead();
    const double done = v.progress();
    int64_t decision = v.has_spot() ? kSpot : kNone;
    if (t * D / T - done > 0) decision = v.has_spot() ? kSpot : kOnDemand;
    if (v.current() == kOnDemand && (t + 2 * d) * D / T - done >= 0) decision = kOnDemand;
    if (!clearly_fits(remaining + d, T - t, v.gap()) &&
        std::ceil((remaining + d) / v.gap()) >= std::floor((T - t) / v.gap()))
      return kOnDemand;
    if (v.has_spot()) return kSpot;
    return decision;
  }
};

// Uniform Progress as published (spec, "Uniform Progress as published", single region).
struct UniformProgress {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    const View v{o};
    const double C0 = v.duration(), Ct = v.remaining(), R0 = v.deadline(), t = v.t();
    const double d = v.overhead(), gap = v.gap();
    if (Ct <= 1e-3) return kNone;
    const bool has = v.has_spot();
    const int64_t current = v.current();
    int64_t decision = has ? kSpot : kNone;
    if ((C0 - Ct) - t * C0 / R0 < 0) decision = has ? kSpot : kOnDemand;
    if (current == kOnDemand && (!has || (t + 2 * d) * C0 / R0 - (C0 - Ct) >= 0))
      decision = kOnDemand;
    if (clearly_fits(Ct + 2 * d, R0 - t, gap)) return decision;
    const double time_left = std::floor((R0 - t) / gap) * gap;
    const double need1 = std::ceil((Ct + d) / gap) * gap;
    const double need2 = std::ceil((Ct + 2 * d) / gap) * gap;
    if (need2 >= time_left && (current == kNone || current == kOnDemand)) decision = kOnDemand;
    if (need1 >= time_left) {
      decision = (current == kSpot && v.rro() < 1e-3) ? kSpot : kOnDemand;
      if (d == 0 && has) decision = kSpot;
    }
    return decision;
  }
};

// The reference multi-region evaluator's initial program (spec, appendix).
struct MultiRegionSeed {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    const View v{o};
    if (v.remaining() <= 1e-8) return kNone;
    const double t = v.t(), C0 = v.duration(), R0 = v.deadline();
    const bool behind = (t > 0 && v.progress() < t * C0 / R0) || t >= R0;
    if (behind) return v.has_spot() ? kSpot : kOnDemand;
    if (v.has_spot()) return kSpot;
    return move_to((v.region() + 1) % v.num_regions(), kNone);
  }
};

// Uniform Progress as published, multi-region version (spec, same section).
struct MultiRegionUniformProgress {
  int64_t operator()(const double* o, int64_t, double*, int64_t) const {
    const View v{o};
    const double C0 = v.duration(), Ct = v.remaining(), R0 = v.deadline(), t = v.t();
    const double d = v.overhead(), gap = v.gap();
    if (Ct <= 1e-3) return kNone;
    int64_t first_with_spot = -1;
    for (int64_t r = 0; r < v.num_regions() && first_with_spot < 0; ++r)
      if (v.region_has_spot(r)) first_with_spot = r;
    const bool any = first_with_spot >= 0;
    const int64_t last = v.last();
    int64_t decision = any ? kSpot : kNone;
    if ((C0 - Ct) - t * C0 / R0 < 0) decision = any ? kSpot : kOnDemand;
    if (last == kOnDemand && (!any || (t + 2 * d) * C0 / R0 - (C0 - Ct) >= 0))
      decision = kOnDemand;
    const bool critical = !clearly_fits(Ct + d, R0 - t, gap) &&
                          std::ceil((Ct + d) / gap) * gap >= std::floor((R0 - t) / gap) * gap;
    if (critical) {
      decision = (last == kSpot && v.rro() < 1e-3) ? kSpot : kOnDemand;
      if (d == 0 && any) decision = kSpot;
    }
    if (decision == kSpot && any && !v.has_spot()) return move_to(first_with_spot, kSpot);
    return decision;
  }
};

// ---------------------------------------------------------------------------------
// Recording and replay. The jail runs a candidate's policy with Recording around it and
// sends back the actions; the judge replays them with Replay, so every figure it keeps
// (cost, ticks, deadline) comes from its own simulation of those actions, never from a
// number the candidate's process reported. Given the same actions the simulation is the
// same, so an honest jail's result and the judge's agree exactly.

template <class Policy>
struct Recording {
  Policy& inner;
  std::vector<int64_t>* actions;
  int64_t operator()(double* o, int64_t n_obs, double* mem, int64_t n_mem) {
    const int64_t action = inner(o, n_obs, mem, n_mem);
    actions->push_back(action);
    return action;
  }
};

// Plays run i's recorded actions back, one per tick; asking for one more than was
// recorded fails the run (as if the policy raised) and marks the replay as overrun.
struct Replay {
  const int64_t* actions;
  const int64_t* offsets;
  int64_t next = 0;
  int64_t end = 0;
  bool overrun = false;
  void begin(int64_t run) {
    next = offsets[run];
    end = offsets[run + 1];
    overrun = false;
  }
  bool consumed_all() const { return !overrun && next == end; }
  int64_t operator()(double*, int64_t, double*, int64_t) {
    if (next >= end) {
      overrun = true;
      return kPolicyRaised;
    }
    return actions[next++];
  }
};

}  // namespace adrs::spot
