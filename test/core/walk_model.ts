// The machine the walk-cache tests (walk_cache_pmd, walk_cache_self) walk: x86_64, 4 GiB on
// two nodes, 4- or 5-level paging, mainline, with twenty HVO'd 2 MiB folios, so that vmemmap
// PMDs are split and walks end at PTE tables as well as at PMD leaves.
import { machinePreset } from "../../src/arch/index.ts";
import { bootModel, type Model } from "../../src/model.ts";

export function walkModel(la57: boolean): { model: Model; first: number } {
  const model = bootModel(
    machinePreset("x86_64", { memoryBytes: 4 * 2 ** 30, nodes: 2, pagingLevels: la57 ? 5 : 4 }),
    "mainline",
  );
  model.write("/proc/sys/vm/hugetlb_optimize_vmemmap", "1");
  model.write("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "20");
  model.settle();
  // The vmemmap page of the lowest folio's head (64 struct pages of 64 bytes per page).
  const first = Math.floor(Math.min(...model.pool.folios.keys()) / 64);
  return { model, first };
}
