#!/usr/bin/env python3
"""Scores the JSON written by bench/nab/sweep.ts with the shared NAB scorer
(../shared/tools/nab/nabscore.py): per configuration the dev score (3 profiles),
each category's standard score (scored as its own subset), and a
leave-one-category-out (LOCO) check: for each category, the configuration that
is best on the OTHER two categories, and how it does on the held-out one
compared with the best and the median of the grid there.

  python3 bench/nab/sweep_score.py /tmp/sweep.json [NAB_DIR]
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, '..', '..', '..', 'shared')
sys.path.insert(0, os.path.join(SHARED, 'tools', 'nab'))
import nabscore as ns  # noqa: E402

CATS = ['artificialWithAnomaly', 'realAdExchange', 'realTraffic']


def main():
    data = json.load(open(sys.argv[1]))
    nab = sys.argv[2] if len(sys.argv) > 2 else os.path.join(SHARED, 'data', 'nab-dev')
    windows = ns.load_windows(ns.labels_path_for(nab))
    truths = ns.load_truths(os.path.join(nab, 'data'), windows, sorted(windows))
    profiles = ns.load_profiles(nab)
    std = profiles['standard']

    def standard(scores, cats):
        t = {k: v for k, v in truths.items() if k.split('/')[0] in cats}
        _, raw = ns.best_threshold(t, scores, std)
        w = sum(v.num_windows for v in t.values())
        return 100.0 * (raw + w) / (2 * w)

    table = {}
    print('%-44s %6s %6s %6s | %6s %6s %6s' % ('config', 'std', 'low_fp', 'low_fn', 'art', 'adx', 'traffic'))
    for name, scores in data.items():
        p = ns.score_detector(truths, scores, profiles)['profiles']
        row = {'all': [p[x]['score'] for x in ns.PROFILE_NAMES]}
        for c in CATS:
            row[(c,)] = standard(scores, [c])
        for c in CATS:
            others = tuple(x for x in CATS if x != c)
            row[others] = standard(scores, list(others))
        table[name] = row
        print('%-44s %6.1f %6.1f %6.1f | %6.1f %6.1f %6.1f' % ((name[:44],) + tuple(row['all']) + tuple(row[(c,)] for c in CATS)))
    if len(table) > 1:
        print('leave-one-category-out (standard):')
        for c in CATS:
            others = tuple(x for x in CATS if x != c)
            chosen = max(table, key=lambda n: table[n][others])
            held = sorted((table[n][(c,)] for n in table), reverse=True)
            print('  held out %-22s chosen on the others: %-30s train=%.1f held-out=%.1f (grid best %.1f, median %.1f)'
                  % (c, chosen[:30], table[chosen][others], table[chosen][(c,)], held[0], held[len(held) // 2]))


if __name__ == '__main__':
    main()
