// What `--machine`, `--cmdline` and `--design` default to and how every command's help describes
// them. Light on purpose: it imports the preset list (src/arch/index.ts) and the design facts
// (src/mm/hvo_designs.ts), which import no model, so that `hvo --help` and `hvo X --help` load
// neither the model nor the machine file parser. src/cli/machine_arg.ts resolves the flags.
import { presetNames } from "../arch/index.ts";
import { DESIGNS, type Design } from "../mm/hvo_designs.ts";

export const DEFAULT_MACHINE = "x86_64";
export const DEFAULT_DESIGN: Design = "mainline";

export const MACHINE_HELP = `machine preset (${[...presetNames(), "host"].join(", ")}), qemu:SIZE[,nodes=N][,arch=arm64|arm64-16k][,initrd=BYTES] (the guest hvo vm boots, e.g. qemu:6G) or a machine file (YAML/JSON)`;
export const CMDLINE_HELP =
  "kernel parameters added after the machine's own (hugepagesz=1G hugepages=2, hugetlb_free_vmemmap=on)";
export const DESIGN_HELP = `HVO design: ${DESIGNS.join(", ")}`;
