// Binding of the spot simulator (cpp/include/adrs/spot.hpp): argument checking and array
// plumbing only.
#include "bindings.hpp"

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "adrs/spot.hpp"

namespace py = pybind11;
namespace spot = adrs::spot;

namespace {

template <class T>
using CArray = py::array_t<T, py::array::c_style | py::array::forcecast>;

// A candidate compiled to a C function by the Python bridge (numba.cfunc). It returns the
// action plus one, and 0 when the policy raised (a cfunc returns 0 after an exception).
struct AddressPolicy {
  using Fn = int64_t (*)(double*, int64_t, double*, int64_t);
  Fn fn;
  int64_t operator()(double* o, int64_t n_obs, double* mem, int64_t n_mem) const {
    const int64_t raw = fn(o, n_obs, mem, n_mem);
    if (raw == 0) return spot::kPolicyRaised;
    return static_cast<int64_t>(static_cast<uint64_t>(raw) - 1);  // no signed overflow
  }
};

// A candidate that did not compile, run interpreted. It gets arrays it owns (copies of
// the simulator's buffers), so nothing it keeps can point into freed memory.
struct PythonPolicy {
  py::object fn;
  py::array_t<double> obs_array;
  py::array_t<double> mem_array;
  std::string message;  // why the last call failed

  // "ValueError: message (line 7)", the line being the innermost one in the policy's file.
  std::string describe(py::error_already_set& e) const {
    std::string text = py::str(e.type().attr("__name__")).cast<std::string>() + ": " +
                       py::str(e.value()).cast<std::string>();
    py::object code = py::getattr(fn, "__code__", py::none());
    if (code.is_none()) return text;
    py::object filename = code.attr("co_filename");
    int64_t line = -1;
    for (py::handle tb = e.trace(); tb && !tb.is_none(); tb = tb.attr("tb_next")) {
      py::object frame_file = tb.attr("tb_frame").attr("f_code").attr("co_filename");
      if (frame_file.equal(filename))
        line = tb.attr("tb_lineno").cast<int64_t>();
    }
    return line < 0 ? text : text + " (line " + std::to_string(line) + ")";
  }

  int64_t operator()(double* o, int64_t n_obs, double* mem, int64_t n_mem) {
    if (obs_array.size() != n_obs) obs_array = py::array_t<double>(n_obs);
    if (mem_array.size() != n_mem) mem_array = py::array_t<double>(n_mem);
    std::memcpy(obs_array.mutable_data(), o, sizeof(double) * n_obs);
    std::memcpy(mem_array.mutable_data(), mem, sizeof(double) * n_mem);
    py::object result;
    try {
      result = fn(obs_array, mem_array);
    } catch (py::error_already_set& e) {
      message = describe(e);
      return spot::kPolicyRaised;
    }
    std::memcpy(mem, mem_array.data(), sizeof(double) * n_mem);
    // Only integers are actions: a float such as 1.7 or a bool is rejected, not truncated.
    const bool is_integer = py::isinstance<py::int_>(result) ||
                            py::isinstance(result, py::module_::import("numpy").attr("integer"));
    if (!is_integer || py::isinstance<py::bool_>(result)) {
      message = "returned " + py::repr(result).cast<std::string>() + " of type " +
                py::str(py::type::of(result).attr("__name__")).cast<std::string>() +
                ", not an integer action";
      return -1;
    }
    try {
      return result.cast<int64_t>();
    } catch (py::cast_error&) {
      message = "returned " + py::repr(result).cast<std::string>() + ", out of the int64 range";
      return -1;
    }
  }
};

template <class T>
void check_size(const py::array& a, py::ssize_t expected, const char* name) {
  if (a.size() != expected)
    throw std::invalid_argument(std::string(name) + " has " + std::to_string(a.size()) +
                                " entries, expected " + std::to_string(expected));
}

spot::Fidelity parse_fidelity(const std::string& name) {
  if (name == "reference") return spot::Fidelity::kReference;
  if (name == "corrected") return spot::Fidelity::kCorrected;
  throw std::invalid_argument("unknown fidelity '" + name + "'; expected reference or corrected");
}

// Runs every job of a batch. Traces are packed (TraceSet layout); run i uses the traces
// run_traces[run_offsets[i]:run_offsets[i+1]] as its regions, in order.
py::dict spot_simulate(CArray<uint8_t> available, CArray<double> prices, CArray<int64_t> offsets,
                       CArray<double> gaps, CArray<int64_t> run_traces,
                       CArray<int64_t> run_offsets, CArray<double> scenarios_hours,
                       bool multi_region, const std::string& fidelity_name, py::object policy,
                       bool record_history, bool record_actions) {
  const spot::Fidelity fidelity = parse_fidelity(fidelity_name);
  const int64_t n_traces = gaps.size();
  check_size<int64_t>(offsets, n_traces + 1, "offsets");
  const int64_t* off = offsets.data();
  if (off[0] != 0 || off[n_traces] != available.size())
    throw std::invalid_argument("offsets do not span the availability array");
  check_size<double>(prices, available.size(), "prices");
  for (int64_t i = 0; i < n_traces; ++i)
    if (off[i + 1] <= off[i]) throw std::invalid_argument("trace " + std::to_string(i) + " is empty");

  const int64_t n_runs = run_offsets.size() - 1;
  if (n_runs < 0) throw std::invalid_argument("run_offsets must have at least one entry");
  check_size<double>(scenarios_hours, n_runs * 3, "scenarios_hours");
  const int64_t* roff = run_offsets.data();
  const int64_t* rtr = run_traces.data();
  if (roff[0] != 0 || roff[n_runs] != run_traces.size())
    throw std::invalid_argument("run_offsets do not span run_traces");

  // Validate every run before simulating any, so errors come before work.
  std::vector<spot::RegionTrace> regions(run_traces.size());  // run i: from roff[i]
  std::vector<spot::Scenario> scenarios(n_runs);
  std::vector<double> run_gap(n_runs);
  const double* sh = scenarios_hours.data();
  for (int64_t i = 0; i < n_runs; ++i) {
    const int64_t n_regions = roff[i + 1] - roff[i];
    if (n_regions < 1) throw std::invalid_argument("run " + std::to_string(i) + " has no trace");
    if (!multi_region && n_regions != 1)
      throw std::invalid_argument("run " + std::to_string(i) +
                                  ": the single-region simulator takes exactly one trace per run");
    for (int64_t j = roff[i]; j < roff[i + 1]; ++j) {
      const int64_t tr = rtr[j];
      if (tr < 0 || tr >= n_traces)
        throw std::invalid_argument("run " + std::to_string(i) + ": trace index " +
                                    std::to_string(tr) + " out of range");
      if (gaps.data()[tr] != gaps.data()[rtr[roff[i]]])
        throw std::invalid_argument("run " + std::to_string(i) +
                                    ": regions have different tick lengths");
      if (off[tr + 1] - off[tr] != off[rtr[roff[i]] + 1] - off[rtr[roff[i]]])
        throw std::invalid_argument("run " + std::to_string(i) +
                                    ": regions have different trace lengths");
      regions[j] = {available.data() + off[tr], prices.data() + off[tr], off[tr + 1] - off[tr]};
    }
    run_gap[i] = gaps.data()[rtr[roff[i]]];
    scenarios[i] = {spot::hours_to_seconds(sh[3 * i]), spot::hours_to_seconds(sh[3 * i + 1]),
                    spot::hours_to_seconds(sh[3 * i + 2])};
    try {
      spot::check_scenario(scenarios[i], &regions[roff[i]], n_regions, run_gap[i]);
    } catch (std::invalid_argument& e) {
      throw std::invalid_argument("run " + std::to_string(i) + ": " + e.what());
    }
  }

  std::vector<spot::RunOutcome> outcomes(n_runs);
  std::vector<std::string> messages(n_runs);
  std::vector<std::string> histories(record_history ? n_runs : 0);
  std::vector<int64_t> actions;
  std::vector<int64_t> action_offsets(record_actions ? n_runs + 1 : 0, 0);
  if (record_actions) actions.reserve(static_cast<size_t>(n_runs) * 256);
  spot::Workspace ws;

  auto run_all = [&](auto& fn) {
    using Fn = std::decay_t<decltype(fn)>;
    for (int64_t i = 0; i < n_runs; ++i) {
      if constexpr (std::is_same_v<Fn, spot::Replay>) fn.begin(i);
      std::string* history = record_history ? &histories[i] : nullptr;
      if (record_actions) {
        spot::Recording<Fn> recording{fn, &actions};
        outcomes[i] = spot::simulate_run(&regions[roff[i]], roff[i + 1] - roff[i], run_gap[i],
                                         scenarios[i], multi_region, fidelity, recording, ws,
                                         history);
        action_offsets[i + 1] = static_cast<int64_t>(actions.size());
      } else {
        outcomes[i] = spot::simulate_run(&regions[roff[i]], roff[i + 1] - roff[i], run_gap[i],
                                         scenarios[i], multi_region, fidelity, fn, ws, history);
      }
      if constexpr (std::is_same_v<Fn, PythonPolicy>) {
        if (outcomes[i].status != spot::RunStatus::kOk) messages[i] = fn.message;
        fn.message.clear();
      }
      if constexpr (std::is_same_v<Fn, spot::Replay>) {
        if (!fn.consumed_all()) {
          outcomes[i].status = spot::RunStatus::kReplayMismatch;
          outcomes[i].status_tick = fn.next - fn.offsets[i];
        }
      }
    }
  };
  auto run_builtin = [&](auto fn) {
    py::gil_scoped_release release;
    run_all(fn);
  };

  // kept alive for the replay's pointers
  CArray<int64_t> replay_actions, replay_offsets;
  if (py::isinstance<py::tuple>(policy)) {
    auto pair = policy.cast<py::tuple>();
    if (pair.size() != 2)
      throw std::invalid_argument("a replay policy is (actions, action_offsets)");
    replay_actions = pair[0].cast<CArray<int64_t>>();
    replay_offsets = pair[1].cast<CArray<int64_t>>();
    check_size<int64_t>(replay_offsets, n_runs + 1, "action_offsets");
    const int64_t* ao = replay_offsets.data();
    if (ao[0] != 0 || ao[n_runs] != replay_actions.size())
      throw std::invalid_argument("action_offsets do not span the actions");
    for (int64_t i = 0; i < n_runs; ++i)
      if (ao[i + 1] < ao[i])
        throw std::invalid_argument("action_offsets decrease at run " + std::to_string(i));
    run_builtin(spot::Replay{replay_actions.data(), ao});
  } else if (py::isinstance<py::str>(policy)) {
    const std::string name = policy.cast<std::string>();
    if (name == "always_on_demand") run_builtin(spot::AlwaysOnDemand{});
    else if (name == "greedy") run_builtin(spot::GreedySeed{});
    else if (name == "uniform_progress_simplified") run_builtin(spot::UniformProgressSimplified{});
    else if (name == "uniform_progress") run_builtin(spot::UniformProgress{});
    else if (name == "multi_seed") run_builtin(spot::MultiRegionSeed{});
    else if (name == "multi_uniform_progress") run_builtin(spot::MultiRegionUniformProgress{});
    else throw std::invalid_argument("unknown built-in policy '" + name + "'");
  } else if (py::isinstance<py::int_>(policy)) {
    const auto address = policy.cast<uintptr_t>();
    if (address == 0) throw std::invalid_argument("policy address is null");
    run_builtin(AddressPolicy{reinterpret_cast<AddressPolicy::Fn>(address)});
  } else if (PyCallable_Check(policy.ptr())) {
    PythonPolicy fn{policy, py::array_t<double>(0), py::array_t<double>(0), {}};
    run_all(fn);
  } else {
    throw std::invalid_argument(
        "policy must be a built-in name, a C function address or a callable");
  }

  auto column = [&](auto field) {
    using T = decltype(field(outcomes[0]));
    py::array_t<T> a(n_runs);
    auto* p = a.mutable_data();
    for (int64_t i = 0; i < n_runs; ++i) p[i] = field(outcomes[i]);
    return a;
  };
  py::dict result;
  result["cost"] = column([](const spot::RunOutcome& r) { return r.cost; });
  result["ticks"] = column([](const spot::RunOutcome& r) { return r.ticks; });
  result["finish_tick"] = column([](const spot::RunOutcome& r) { return r.finish_tick; });
  result["spot_ticks"] = column([](const spot::RunOutcome& r) { return r.spot_ticks; });
  result["on_demand_ticks"] = column([](const spot::RunOutcome& r) { return r.on_demand_ticks; });
  result["final_region"] = column([](const spot::RunOutcome& r) { return r.final_region; });
  result["status"] =
      column([](const spot::RunOutcome& r) { return static_cast<int64_t>(r.status); });
  result["status_tick"] = column([](const spot::RunOutcome& r) { return r.status_tick; });
  result["bad_action"] = column([](const spot::RunOutcome& r) { return r.bad_action; });
  result["messages"] = messages;
  if (record_history) result["histories"] = histories;
  if (record_actions) {
    result["actions"] = py::array_t<int64_t>(static_cast<py::ssize_t>(actions.size()),
                                             actions.data());
    result["action_offsets"] = py::array_t<int64_t>(n_runs + 1, action_offsets.data());
  }
  return result;
}

}  // namespace

void register_spot(py::module_& m) {
  m.def("spot_simulate", &spot_simulate, py::arg("available"), py::arg("prices"),
        py::arg("offsets"), py::arg("gaps"), py::arg("run_traces"), py::arg("run_offsets"),
        py::arg("scenarios_hours"), py::arg("multi_region"), py::arg("fidelity"),
        py::arg("policy"), py::arg("record_history") = false,
        py::arg("record_actions") = false,
        "Simulate a batch of spot-scheduling runs; see adrs.simulators.spot for the arrays. "
        "policy: a built-in name, a C function address, a callable, or (actions, "
        "action_offsets) to replay recorded actions; record_actions returns them.");

  py::dict layout;
  layout["TIME"] = spot::obs::kTime;
  layout["PROGRESS"] = spot::obs::kProgress;
  layout["REMAINING_OVERHEAD"] = spot::obs::kRemainingOverhead;
  layout["HAS_SPOT"] = spot::obs::kHasSpot;
  layout["CLUSTER_TYPE"] = spot::obs::kClusterType;
  layout["LAST_CLUSTER_TYPE"] = spot::obs::kLastClusterType;
  layout["DEADLINE"] = spot::obs::kDeadline;
  layout["TASK_DURATION"] = spot::obs::kTaskDuration;
  layout["RESTART_OVERHEAD"] = spot::obs::kRestartOverhead;
  layout["GAP"] = spot::obs::kGap;
  layout["CURRENT_REGION"] = spot::obs::kCurrentRegion;
  layout["NUM_REGIONS"] = spot::obs::kNumRegions;
  layout["REGION_HAS_SPOT"] = spot::obs::kRegionHasSpot;
  layout["MEM_SIZE"] = spot::kMemSize;
  m.attr("SPOT_LAYOUT") = layout;
  m.attr("SPOT_POLICY_RAISED") = spot::kPolicyRaised;
  m.attr("SPOT_BUILTIN_POLICIES") =
      py::make_tuple("always_on_demand", "greedy", "uniform_progress_simplified",
                     "uniform_progress", "multi_seed", "multi_uniform_progress");
}

ADRS_REGISTER_BINDING(register_spot);
