"""Named pretraining presets: tuned settings per environment, with the measured result and why.

A preset is a dict of :func:`rpgssm_env.training.pretrain.pretrain` keyword arguments; any
argument given explicitly to ``pretrain`` (or on the ``rpgssm pretrain`` command line) overrides
the preset's value. :data:`DEFAULTS` holds the values used when neither gives one.

Keys (all optional):

* model: ``latent_dim``, ``prior`` (``"invariant"``/``"general"``), ``head``, ``channels``,
  ``strides`` (conv trunk), ``pool`` (its read-out: ``"flatten"`` or ``"keypoints"``),
  ``hidden`` (MLP trunk), ``A_param`` (``"full"``, ``"diag_sigmoid"``,
  ``"rotation"``), ``A_max_freq`` (rad/step, rotation form), ``Q_param``, ``Q_init``,
  ``projection``, ``projection_eps``, ``action_mlp``, ``beta``, ``head_init_scale`` (factor on
  the recognition head's initial weights); ``beta_final`` and ``beta_ramp = (first, last)``:
  the chain-KL weight goes linearly from ``beta`` at step ``first`` to ``beta_final`` at step
  ``last`` (the model's ``config.beta`` is then ``beta_final``);
* transition initialisation: ``A_init`` (``A_0 = A_init I``) or ``A_init_kind="rotation"``
  (2x2 blocks ``A_rho R(f_i)``, frequencies ``f_i`` spread over ``A_freqs = (lo, hi)`` rad/step,
  or ``A_freqs`` listing all ``K // 2`` of them);
* training: ``mode`` (``"em"``/``"direct"``), ``em_warmup`` (EM steps before direct ones),
  ``batch_size``, ``window``, ``windows_per_episode`` (k non-overlapping windows of each of
  ``B / k`` episodes per batch: see :class:`~rpgssm_env.data.windows.WindowBatcher`),
  ``batch_groups`` (``(state, bin_width[, "shifting"])``: a batch holds episodes whose
  first-frame value of that state variable falls in one bin, see
  :func:`~rpgssm_env.data.windows.start_state_groups`; ``"shifting"``: the bin edges move every
  epoch, :class:`~rpgssm_env.data.windows.ShiftingBins`),
  ``lr``, ``lr_prior``, ``lr_recognition``, ``lr_actions``, ``decay``, ``decay_every``,
  ``steps``, ``grad_clip``, ``augment`` (``{"brightness": b, "contrast": c}``: per-frame
  intensity jitter of the training frames, see
  :class:`~rpgssm_env.training.augment.IntensityJitter`), ``projection_eps_schedule``
  (``((step, eps), ...)``: from ``step`` on, radii of ``A`` up to ``1 - eps``; starts at
  ``projection_eps``);
* probing: ``angles`` (state columns that are angles: probed as sin and cos).

pendulum24: what makes omega learnable fast
-------------------------------------------
Setting: the paper's data (24x24 grey ``Pendulum-v1`` without torque, a new natural photograph
behind every frame; 500 training and 100 held-out sequences of T = 100; K = 8). Figures are
held-out linear-probe R^2 (sin theta, cos theta, omega), smoothed / filtered, probe fitted on
200 training sequences. Pilots: 1 CPU thread on a machine shared with 4-8 other busy processes
(load average 5-9 on 2 cores), so steps/s are 2-3x below an idle machine.

=====================================================  ======  ==============================
run (changes from the row above unless said)           steps   R^2 smoothed (sin, cos, omega)
=====================================================  ======  ==============================
paper-like: EM, A_0 = 0.5 I, small CNN, W = 25, lr 1e-3  637   0.09, 0.76, 0.00
direct, rotation A_0, lr_A 1e-2, head init x1, clip 10   498   0.04, 0.01, 0.04 (stuck)
EM + rotation A_0                                        378   0.00, 0.86, 0.00
EM, A_0 = 0.5 I, head init x10                           300   0.47, 0.80, 0.00
direct, rotation, head init x10, beta = 1                773   0.82, 0.00, 0.88
  same, another seed                                     615   0.00, 0.88, 0.00
  same, EM warm-up of 150 steps                          649   0.05, 0.92, 0.04
  same, general prior (learned Q)                        545   0.87, 0.02, 0.89
direct, rotation, head init x10, beta = 0.5 (preset)     551   0.94, 0.96, 0.71 (F: .90 .91 .64)
  same, W = 50                                           350   0.90, 0.90, 0.30
  beta = 0.25                                            687   0.85, 0.88, 0.05
  beta = 0.75                                            307   0.36, 0.60, 0.27
=====================================================  ======  ==============================

Measured result of the preset (``benchmarks/pendulum_paper.py --preset pendulum24``,
seed 0, the same contended machine): 3383 steps in 902 s (3.75 steps/s), held-out R^2 smoothed
(sin, cos, omega) = (0.977, 0.940, 0.838), filtered = (0.975, 0.928, 0.783); on the way:
step 500 (0.93, 0.95, 0.72), 1000 (0.97, 0.98, 0.78), 1500 (0.98, 0.98, 0.82), 2500
(0.98, 0.96, 0.84). sin and cos pass the 0.95 goal early (cos peaks at 0.984 near step 1500 and
then drifts to 0.94 while the held-out free energy still improves); omega plateaus near 0.84
(smoothed) / 0.78 (filtered), short of the 0.9 / 0.85 goals. The residual omega error sits on
large swings near the separatrix, whose frequency (-> 0) no fixed linear oscillator follows.
The paper's code reaches (0.94, 0.89, 0.01) after 25 minutes on this machine.

After the float32 chain-KL fix (the KL had been biased low near s_max(A) = 1) the same command
on a quiet machine ran the full 6000 steps in 844 s: smoothed (0.945, 0.881, 0.871), filtered
(0.941, 0.850, 0.806). omega improved, sin/cos fell: beta and projection_eps were tuned against
the biased KL, so they were re-tuned (2026-12-05, 14-minute runs, 1 thread each, two runs side
by side on the 2 cores; final R^2, smoothed / filtered (sin, cos, omega)):

=================================================  =====  ===============================
run (changes from the preset above)                steps  R^2 smoothed / filtered
=================================================  =====  ===============================
projection_eps = 1e-3 (s_max up to 0.999)          6000   .88 .37 .85 / .89 .46 .83
K = 12                                             5357   .95 .91 .85 / .94 .89 .79
beta 0.5 -> 1 over steps 1000..3000                6000   .95 .94 .78 / .92 .92 .73
K = 12, beta 0.5 -> 1 over 1500..4000 (k12 preset) 5439   .97 .95 .84 / .97 .95 .78
K = 16, same ramp                                  3398   .92 .96 .76 / .89 .94 .70
=================================================  =====  ===============================

With beta fixed at 0.5 the model trades cos theta for omega late in training (every run: cos
peaks near step 1000-1500, then falls while omega creeps up); raising beta to 1 once the
features exist holds cos (and sin) but stops omega near 0.83. K = 12 gives room for both parity
classes, but the paper's setting fixes K = 8, so ``pendulum24`` keeps K = 8 and beta = 0.5 (the
best omega) and ``pendulum24k12`` holds the K = 12 recipe: sin 0.97 meets the 0.95 goal, cos
0.946 misses it narrowly, omega misses (0.84 smoothed vs 0.9, 0.78 filtered vs 0.85).

Batch 16 (2026-12-05, preset ``pendulum24b16``): a step costs about half of a batch-32 step,
and per step the model learns as much or more on the training family
(``benchmarks/pendulum_paper.py --preset pendulum24 --batch-size 16``, 1 thread, another run
beside it, seed 0):

=================================================  =====  ====  ===============================
run                                                steps  time  R^2 smoothed / filtered
=================================================  =====  ====  ===============================
B = 32, lr decay every 2500 (former preset)         6000  844 s .945 .881 .871 / .941 .850 .806
B = 16, lr decay every 2500                         6000  480 s .964 .868 .864 / .969 .887 .786
B = 16, lr decay every 5000 (preset)                6000  ~500 s .968 .914 .908 / .971 .915 .857
  same, trained on to 10875 steps (15 min)         10875  901 s .949 .846 .884 / .942 .832 .823
  preset, seed 1 (quiet core, nothing beside it)    6000  394 s .979 .951 .835 / .966 .926 .772
  preset, beta 0.5 -> 0.75 over steps 1500..4000    6000  (*)   .912 .705 .721 / .927 .734 .736
  preset, beta 0.5 -> 1 over steps 2000..5000       6000  (*)   .963 .702 .789 / .955 .714 .791
  preset, beta 0.5 -> 0.35 over steps 3000..5000    6000  (*)   .965 .908 .853 / .968 .872 .792
=================================================  =====  ====  ===============================

(*) 2026-12-05, three or four runs on the 2 cores (times not comparable). A beta ramp does not
hold cos theta at batch 16: the upward ramps kept smoothed cos at .97-.98 up to step 3500 (omega
.80-.83 there), then cos fell to .70-.74 by step 4000-4500, below the preset without a ramp. The
downward ramp held cos at .98 to step 4500 (omega .77-.80), and after the lr decay at step 5000
traded it for omega (cos .98 -> .91, omega .80 -> .85): with K = 8 the model keeps either cos
theta or the last few hundredths of omega, whatever the schedule of beta. The seed decides which:
seed 0 meets the omega goals and misses cos, seed 1 meets sin and cos (.951 smoothed) and misses
omega (.835 / .772).

The preset row is the 15-minute run read at step 6000 (the schedule up to there is the
preset's; ``benchmarks/robustness_table.py`` retrained it and got the same figures): sin and
both omega goals are met, cos theta (0.914) misses 0.95. Training on past 6000 steps trades cos
for nothing (the held-out free energy still improves). BUT it does not carry over to other
backgrounds: filtered cos theta R^2 falls to 0.39 on clean frames and 0.66 behind a second
pendulum (largest drops 0.53 and 0.26, against 0.055 and 0.054 for ``pendulum24``), so
``pendulum24`` (batch 32) stays the paper-setting preset and the robustness table's model.

Rotation parametrisation (2026-12-05, preset ``pendulum24rot``). Why the trade above: with a
free ``A``, three of the eight latent dimensions end up unused. The eigenmodes of the learned
``A`` (seed 1 of ``pendulum24b16``: angles pi and +-2.1 rad/step, power of the smoothed means
0.005-0.02, R^2 0 for every target) "flicker" with period 2 or 3 and carry nothing; another seed
(3) spent three dimensions on white noise (|eigenvalue| 0.07-0.23, power 0.35-0.66, no state)
and never found cos theta. What remains is a pair at the pendulum's frequency (sin theta, omega),
one pair or real mode for cos theta, and a slow mode. ``A_param="rotation"`` (block-diagonal
damped rotations ``rho_i R(f_i)``, frequencies below ``A_max_freq`` = pi/2, radii below
``1 - projection_eps``; see :mod:`rpgssm_env.model.prior`) keeps every mode a slow oscillator.
Runs: paper data, 1 thread, two runs side by side, final held-out R^2 smoothed / filtered
(sin, cos, omega); all rotation runs start from the same rotation ``A_0`` as the preset:

============================================  ====  =====  ===============================
run (B 16, decay 0.3 every 5000 unless said)  seed  steps  R^2 smoothed / filtered
============================================  ====  =====  ===============================
pendulum24b16 (free A)                        0     6000   .968 .914 .908 / .971 .915 .857
  same                                        1     6000   .979 .951 .835 / .966 .926 .772
  same                                        2     6000   .941 .834 .892 / .944 .818 .826
  same                                        3     6000   .915 .045 .909 / .891 .016 .880
  full-covariance recognition head            0, 1  6000   .906 .802 .787, .902 .789 .869
rotation                                      0     6000   .827 .532 .934 / .839 .413 .904
  same                                        1     6000   .839 .427 .927 / .851 .383 .893
  rotation, beta = 1                          0     6000   .822 .440 .930 / .835 .354 .897
  rotation, lr decay 0.3 every 1000           0     4000   .919 .969 .918 / .934 .928 .865
  same                                        1     4000   .895 .871 .937 / .909 .777 .899
  same, A_max_freq = 0.6                      0     4000   .897 .868 .921 / .914 .833 .872
  same, eps = 0.01 (rho <= 0.99)              0     4000   .850 .589 .912 / .869 .554 .870
  same, eps = 0.04, A_rho = 0.95              0     4000   .967 .930 .862 / .951 .892 .788
B 32, rotation, decay every 1000 (585 s)      0     4000   .951 .970 .902 / .960 .948 .840
  same (597 s)                                1     4000   .881 .863 .930 / .894 .793 .890
  decay every 1500 (749 s)                    0     5000   .914 .956 .909 / .927 .928 .855
  eps 0.03, A_rho 0.96 (preset, 728 s)        0     4000   .985 .953 .866 / .980 .939 .800
  same (773 s)                                1     4000   .976 .960 .888 / .980 .940 .834
  same (benchmark script, 579 s)              2     4000   .990 .978 .849 / .985 .961 .782
  same (benchmark script, 613 s)              3     4000   .959 .823 .905 / .965 .816 .847
  decay every 2000 (774 s)                    0     5000   .982 .945 .881 / .985 .937 .818
  same (776 s)                                1     5000   .934 .841 .913 / .940 .809 .867
eps 0.03, A_rho 0.96, A_freqs 0.02..0.2       0     4000   .983 .965 .886 / .985 .949 .828
  (568-615 s)                                 1     4000   .983 .966 .880 / .985 .951 .816
  same                                        2     4000   .990 .968 .858 / .986 .952 .795
  same                                        3     4000   .965 .926 .896 / .970 .915 .836
  same, batch 16 (398 s)                      0     4000   .989 .980 .868 / .986 .955 .808
  same, batch 16 (399 s)                      1     4000   .959 .966 .894 / .956 .933 .828
  same, intensity jitter 0.4, 0.5 (augment)   0     4000   .991 .985 .842 / .979 .959 .786
  same                                        1     4000   .993 .977 .823 / .979 .965 .753
  same, eps 0.02 (rho <= 0.98, 592-615 s)     0     4000   .972 .969 .896 / .977 .951 .840
  same                                        1     4000   .959 .960 .902 / .968 .942 .846
  same                                        2     4000   .980 .966 .875 / .980 .950 .813
  same                                        3     4000   .935 .810 .907 / .945 .785 .848
  A_freqs 0.1..0.2, eps 0.02 (607-609 s)      0     4000   .923 .747 .915 / .936 .734 .860
  same                                        3     4000   .898 .625 .928 / .898 .592 .894
A_freqs (0.02, 0.12, 0.16, 0.2), eps 0.03     0     4000   .988 .974 .875 / .987 .955 .814
  (the preset, 560-596 s)                     1     4000   .949 .968 .912 / .960 .937 .855
  same                                        2     4000   .990 .968 .860 / .988 .952 .797
  same                                        3     4000   .977 .976 .889 / .979 .957 .829
  eps 0.03, then 0.02 from step 1000          0     4000   .974 .970 .893 / .977 .951 .833
  (projection_eps_schedule, 579-590 s)        1     4000   .917 .963 .914 / .934 .925 .857
  same                                        2     4000   .979 .965 .879 / .980 .950 .818
  same                                        3     4000   .960 .975 .898 / .966 .954 .838
  K = 12, freqs 0.02, 0.1..0.22 (stopped)     0     2500   .984 .983 .867 / .975 .967 .800
  same                                        2     2500   .985 .981 .864 / .978 .966 .798
  same, eps 0.02 (stopped)                    0     2500   .975 .978 .874 / .969 .961 .810
  same                                        2     2500   .953 .978 .901 / .957 .956 .839
============================================  ====  =====  ===============================

Initial frequencies 0.02..0.2 rad/step (0.02, 0.08, 0.14, 0.2: three blocks at or below the
pendulum's 0.19 rad/step small-swing frequency and a slow one) instead of 0.05..0.4: cos theta
.926-.968 over four seeds (against .823-.978), sin .965-.990, omega unchanged (.858-.896
smoothed, .795-.836 filtered): sin and cos MET on three seeds of four, seed 3 narrowly misses
cos (.926); omega MISSED on all four. The learned modes (seeds 0, 1): sin theta and omega share
one pair at 0.164-0.167 rad/step (R^2 from that pair alone .96-.98 and .88), cos theta sits in
a pair at 0.12 rad/step or a real mode, one or two pairs stay idle (power .07-.17). omega's
ceiling near .88 is that pair's: it holds sin theta and its quadrature, and omega is linear in
neither for large swings. Intensity jitter of the training frames (``augment``) raises sin and
cos further and costs omega (.82-.84). With the radius cap at 0.98 instead (eps 0.02) the
balance moves toward omega: seed 1 meets sin, cos and smoothed omega (.959 .960 .902) and
misses filtered omega by .004 (.846), seed 0 misses omega by .004 (.896), seed 2 keeps sin/cos
only, and seed 3 trades cos theta away (.810) as the former init's seed 3 did; the preset keeps
0.97, which keeps cos theta at .926 or more on every seed. Without a slow block at the start
(0.1..0.2 rad/step, all four pairs in the pendulum's band) omega is met on both seeds tried
(.915-.928, filtered .86-.89) and cos theta is lost (.63-.75): the slow initial block is what
holds cos theta. The preset therefore starts one slow pair (0.02) and three in the band
(0.12, 0.16, 0.2 rad/step): cos theta .968-.976 on all four seeds, sin .949-.990, omega
.860-.912 (filtered .797-.855). Seed 1 meets cos and both omega goals and misses sin theta by
.0015 (.9485); seeds 0, 2, 3 meet sin and cos and miss omega (.860-.889). No seed meets all
four.

Relaxing the radius cap once the features exist (``projection_eps_schedule=((1000, 0.02),)``:
0.97 for the first 1000 steps, then 0.98, A unchanged at the switch) moves every seed along the
same trade: omega +.002 to +.019 (smoothed .879-.914, filtered .818-.857), sin theta -.011 to
-.032 (seed 1 .917). The goals met are the preset's (cos on four seeds, sin on three, omega on
seed 1), so the preset keeps the fixed cap (robustness, largest drop plain -> standardised,
seeds 0-3: .102 -> .031, .268 -> .082, .368 -> .057, .218 -> .041; the preset's: .097 -> .029,
.217 -> .065, .355 -> .054, .172 -> .038). Twelve latent dimensions (six rotation blocks, one
slow) raise sin and cos (.98) and leave omega where it was (.864-.874; .901 on one seed with the
cap at 0.98): capacity is not what holds omega back. Several runs meet all four goals at some
evaluation around step 1000 (the schedule's seed 1: .969 .972 .904 / .850; K = 12 with the cap
at 0.98, seed 2: .969 .974 .908 / .862) and drift off them by step 2500 (sin theta, or omega,
falls by .02-.05) while the held-out free energy keeps falling: in all four schedule runs the
best checkpoint by held-out free energy is the last one (step 4000), not those.

(The full-head row: smoothed R^2 of seeds 0 and 1; eps: ``projection_eps``.) The rotation form
learns omega faster and more surely (filtered omega .87-.90 by step 1000-2000 in every run), and
without an early lr decay it then trades sin and cos theta for the last hundredths of omega, as
the free ``A`` does late; the decay at step 1000 freezes the early state (R^2 hardly moves after
step 2000; with the decay at 2000 instead, seed 1 trades cos for omega again). The radius cap
sets the balance: ``rho <= 0.99`` loses sin and cos, ``rho <= 0.96`` loses omega; ``0.97`` with
batch 32 holds sin and cos theta on three seeds of four (.976-.990, .953-.978) with omega at
.85-.89 smoothed, .78-.83 filtered; the fourth (seed 3) trades cos (.823) for omega (.905 /
.847). sin and cos MET on three seeds, omega MISSED narrowly (0.9 / 0.85) on those: cos theta
depends on the seed far less than with the free ``A`` (.045-.951 over four seeds). Even here
four of the eight dimensions carry little (two pairs at 0.53-0.55 rad/step, power 0.13-0.14). On
target 2's data (the demo's 120 step-mode video episodes, ``pendulum64`` with the rotation form
and the lr decay every 1000, 3000 steps, seed 0): filtered .948 .463 .680 against the free
``A``'s .91 .37 .68 on the same data: omega there does not move. With the current
``pendulum24rot`` init there (frequencies 0.02, 0.12, 0.16, 0.2, radius <= 0.97, A_rho 0.96,
decay 0.3 every 1000; 3000 steps, 1 thread, two runs side by side): filtered .947 .486 .678
(seed 0) and .944 .536 .683 (seed 1); cos theta peaks at step 500 (filtered .85-.86) and is
traded away for omega by step 1000, as on the paper's data with the free ``A``. With the lr
decay every 500 steps instead (3000 steps): .970 .780 .609 (seed 0), .982 .722 .583 (seed 1,
2500 steps): cos theta held better, omega lower: the same trade; relaxing the radius cap to 0.98
from step 500 changes nothing (seed 0, 2500 steps: .968 .770 .610). More data does not help
either: ``benchmarks/pendulum_video.py --episodes 600 --steps 3000`` (600 step-mode episodes of
100 steps, 100 held-out episodes with the video playing; 1 thread, another run beside it),
smoothed / filtered: ``pendulum64`` .891 .669 .688 / .900 .588 .702; with the rotation form
above (decay every 1000) .891 .600 .649 / .900 .571 .667. The same rollouts rendered at 24x24
grey (``grayscale=True``; 600 + 100 episodes, same seeds) with ``pendulum24rot`` and the general,
action-conditioned prior (``Q_init`` 0.08, ``lr_actions`` 1e-2; 4000 steps, 1 thread, alone):
.964 .942 .626 / .965 .908 .614. cos theta comes back with the paper's frame size and trunk
(.94 against .60-.67 at 64x64 colour), omega does not (.61-.63): on torque-driven rollouts omega
is what the model misses, whatever the frames.

Threads: on this shared machine ``torch.set_num_threads(2)`` ran 3.2 s/step against 0.27 s/step
with one thread (the small per-step tensors make OpenMP threads spin and wait under
contention); use one thread unless the cores are free. On the quiet machine (K = 12, nothing
else running) 2 threads gave 7.8 steps/s against 6.3 with one: two experiments side by side,
one thread each, use the cores better than one with two.

Findings, in order of effect:

1. Leave the initial plateau quickly: the head's last layer starts at variance scale 0.1 (spec
   1.4), so log Gamma sits at -log B (and R^2 near 0) for 300+ steps while the tiny potentials
   grow. Ten times larger initial head weights (``head_init_scale=10``) break the symmetry
   within ~100-200 steps.
2. beta = 0.5 on the chain KL. With beta = 1 the chain KL rewards slow, predictable latents so
   strongly that the model keeps ONE parity class of the pendulum's mirror symmetry and drops
   the other: either the odd features (sin theta, omega: R^2 0.87 / 0.89, cos 0.00) or the even
   one (cos theta 0.9; sin and omega 0.0), depending on the seed; features of the other class
   present early (R^2 0.3) are then erased. beta = 0.5 keeps both classes and omega still
   appears; beta = 0.25 loses omega (the dynamics prior is too weak to shape the latents).
3. Direct gradients through the smoother with A initialised as damped rotations
   (rho = 0.97, frequencies 0.05..0.4 rad/step around the pendulum's 0.19 rad/step small-swing
   frequency) and a 10x learning rate on A (1e-2): omega appears within a few hundred steps.
   EM with A_0 = 0.5 I never gave omega (the posterior carries no velocity when A starts
   nearly white); EM with a rotation A_0 learned position only.
4. Keep s_max(A) <= 0.98 (``projection_eps=0.02``): in float32 the chain KL is biased
   downwards near s_max = 1 (about -0.04 nats per step at 0.999, -0.004 at 0.99, exactly 0 in
   float64; the 1e-5 jitter on near-singular conditional covariances), and direct gradients
   exploit the bias by pushing A to the boundary while the recognition learns nothing.
   A global gradient clip of 10 made it worse (A's gradient starved the CNN); 100 is a guard.
5. Step cost: with the paper's CNN (32/64/32, first conv at full resolution) the CNN is ~70%
   of a step; a (16, 32, 32) trunk with stride 2 from the first layer is ~15x cheaper and was
   as good here. The rest of a step is the smoother and the B x B x T contrastive scores, both
   linear in the window: windows of 25 frames give 4x the steps per second of T = 100, and the
   probe still runs the smoother over whole 100-frame sequences.
"""

from __future__ import annotations

import copy
import math
from typing import Any

__all__ = ["DEFAULTS", "PRESETS", "get_preset", "preset_names"]

#: Values used when neither the caller nor the preset sets an argument.
DEFAULTS: dict[str, Any] = {
    "latent_dim": 8,
    "prior": "invariant",
    "head": "diagonal",
    "channels": None,
    "strides": None,
    "hidden": (256, 256),
    "pool": "flatten",
    "A_param": "full",
    "A_max_freq": math.pi / 2,
    "Q_param": "diag",
    "Q_init": None,
    "projection": "clip",
    "projection_eps": 1e-3,
    "projection_eps_schedule": None,
    "action_mlp": (),
    "beta": 1.0,
    "beta_final": None,
    "beta_ramp": (0, 0),
    "A_init": 0.5,
    "head_init_scale": 1.0,
    "A_init_kind": "identity",
    "A_rho": 0.97,
    "A_freqs": (0.05, 0.4),
    "mode": "em",
    "em_warmup": 0,
    "batch_size": 32,
    "window": None,
    "windows_per_episode": 1,
    "batch_groups": None,
    "lr": 1e-3,
    "lr_prior": None,
    "lr_recognition": None,
    "lr_actions": None,
    "decay": 0.2,
    "decay_every": 5000,
    "steps": 10_000,
    "grad_clip": 10.0,
    "augment": None,
    "angles": None,
}

_PENDULUM24 = {
    "latent_dim": 8,
    "prior": "invariant",
    "head": "diagonal",
    "channels": (16, 32, 32),
    "strides": (2, 2, 2),
    "head_init_scale": 10.0,
    "A_init_kind": "rotation",
    "A_rho": 0.97,
    "A_freqs": (0.05, 0.4),
    "projection_eps": 0.02,
    "beta": 0.5,
    "mode": "direct",
    "batch_size": 32,
    "window": 25,
    "lr": 1e-3,
    "lr_prior": 1e-2,
    "decay": 0.3,
    "decay_every": 2500,
    "steps": 6000,
    "grad_clip": 100.0,
    "angles": (0,),
}

_CARTPOLE64 = {
    **_PENDULUM24,
    "channels": (16, 32, 32, 32),
    "strides": (2, 2, 2, 2),
    "prior": "general",
    "Q_init": 0.1,
    "A_init_kind": "identity",
    "A_init": 0.95,
    "window": 10,
    "lr_actions": 1e-2,
    "angles": (),
}

PRESETS: dict[str, dict[str, Any]] = {
    # the paper's setting (24x24 grey, new photograph per frame, K = 8, no actions); see above
    "pendulum24": _PENDULUM24,
    # the same with batch 16 and a slower lr decay: better R^2 on the training family in ~8
    # minutes, much less robust to other backgrounds (table above)
    "pendulum24b16": {**_PENDULUM24, "batch_size": 16, "decay_every": 5000},
    # the rotation parametrisation of A with radii <= 0.97 and an lr decay at step 1000: sin
    # and cos theta on three seeds of four, omega just short (table above)
    "pendulum24rot": {
        **_PENDULUM24,
        "A_param": "rotation",
        "projection_eps": 0.03,
        "A_rho": 0.96,
        "A_freqs": (0.02, 0.12, 0.16, 0.2),
        "decay_every": 1000,
        "steps": 4000,
    },
    # the same data with K = 12 and beta 0.5 -> 1 over steps 1500..4000 (table above)
    "pendulum24k12": {
        **_PENDULUM24,
        "latent_dim": 12,
        "beta_final": 1.0,
        "beta_ramp": (1500, 4000),
    },
    # pixel Pendulum-v1, 64x64 colour, video background, random torques: the pendulum24 recipe
    # with a 64x64 trunk and an action-conditioned general prior (b_t = b + B_u a_t; the
    # invariant prior's N(0, I) marginals do not hold once actions push the chain).
    # MEASURED (benchmarks/pendulum_video.py, 200 train / 50 held-out episodes, 8 min, 1
    # thread, 570 steps): R^2 ~ 0.0 for sin, cos and omega although log Gamma reached -0.36
    # on held-out data: a background that plays continuously and differs between episodes
    # identifies the sequence in the contrastive softmax and is itself a smooth "dynamical"
    # signal, so the latents track the video instead of the pendulum. Train on frames with a
    # new background every step (``distractor_mode="step"``): the pendulum24 model trained
    # that way keeps R^2 (0.98, 0.91, 0.89) under video at test time (robustness table).
    # MEASURED with step-mode training rollouts (benchmarks/pendulum_video.py: 300 training
    # episodes with a random video frame every step, 100 held-out episodes with the video
    # playing; 14 min, 1 thread, another run beside it; held-out R^2 smoothed / filtered
    # (sin, cos, omega)):
    #   K = 12: step 250 (.95 .93 .60 / .95 .89 .54), 1000 (.94 .88 .54 / .93 .83 .45),
    #           then cos collapses: 2232 steps (.94 .46 .67 / .93 .45 .70). MISSED.
    #   K = 12 with beta 0.5 -> 1 over 1000..3000: the same collapse (2215 steps: .91 .31 .67).
    #   K = 12, invariant prior: worse throughout (2304 steps: .83 .34 .65 / .86 .48 .64).
    #   K = 8 (this preset) in the demo's 5 minutes (60 episodes of 200 steps, 617 steps;
    #           held-out split of the step-mode data): .98 .94 .51 / .97 .90 .54.
    # sin and cos are learned in a few hundred steps; omega stays near 0.5-0.7, and longer
    # training drops cos (the even parity class, as pendulum24 does with beta = 1).
    #   The demo's data (60 episodes), K = 8, 2091 steps: .92 .51 .66 / .91 .54 .65; yet SAC on
    #   these latents (3 stacked outputs) scores higher than at 1382 steps (.94 .78 .63 /
    #   .94 .71 .63): normalised return 0.90 0.90 0.94 vs 0.91 0.83 0.92 (seeds 0-2), so the
    #   demo pretrained for 2000 steps (now 3000 of batch 16, below).
    # Batch 16 (2026-12-05; was 32): a step costs 160 ms against 460 ms (1 thread; the CNN
    # runs on B x W frames and the contrastive scores are B x B x W), and the agent gains as
    # much per step. The demo's data, 1 thread, another run beside it, filtered R^2 and SAC
    # normalised return (20k steps, 3 stacked outputs, seeds 0-2):
    #   B = 32, 2091 steps: .91 .54 .65, SAC 0.90 0.90 0.94 (mean 0.91)
    #   B = 16, 2000 steps (362 s): .92 .74 .68, SAC 0.91 0.84
    #   B = 16, 3000 steps (525 s): .89 .61 .69, SAC 0.98 0.89 1.03 (mean 0.96)
    #   Fresh-clone CI demo model (3000 steps, 2 threads) behind other backgrounds playing
    #   coherently (probe fitted on its training latents): video .89 .35 .67, clean .90 .15
    #   .67, moving shapes and a second pendulum: negative R^2. Train on the family you meet.
    # Data (2026-12-05, 1 thread, 3000 steps, SAC over 20 evaluation episodes): 60 episodes
    #   .88 .51 .67, SAC 0.87 0.83 0.74 (seeds 0-2); 120 episodes (the demo's now) .91 .39 .68,
    #   SAC 0.93 0.93 0.99; another 120-episode data set and model (seed 1) .94 .64 .73, SAC
    #   0.94 0.99 0.99 (seeds 1-3); a third (seed 2) .95 .89 .65, SAC 1.00 (seed 2). 3000 steps
    #   of batch 16 are ~100 passes over 60 episodes' 12 000 frames; the held-out probe hardly
    #   moves, the agent does.
    "pendulum64": {
        **_PENDULUM24,
        "channels": (16, 32, 32, 32),
        "strides": (2, 2, 2, 2),
        "prior": "general",
        "Q_init": 0.06,  # = 1 - rho^2: stationary variance ~1 as in the invariant prior
        "lr_actions": 1e-2,
        "batch_size": 16,
    },
    # CartPole-v1, 64x64 colour, moving shapes, random discrete actions: no oscillation to
    # seed (A_0 = 0.95 I), short windows (random-policy episodes last ~20 steps).
    # MEASURED (benchmarks/cartpole_shapes.py, 1000 / 200 episodes, 8 min, 1 thread, 1399
    # steps): R^2 ~ 0.0 for every state variable with held-out log Gamma -0.09: per-episode
    # shapes moving smoothly on a per-episode colour identified the sequence, and the pole was a
    # fraction of a pixel wide in the whole 600x400 render at 64x64.
    # With training rollouts in ``distractor_mode="step"`` (new shapes AND base colour every
    # step), the CartPole id cropped to its track band, held-out episodes with moving shapes:
    # 6000 steps in 676 s (1 thread, another run beside it), filtered R^2 (x, x_dot, theta,
    # theta_dot) = (0.62, 0.75, 0.71, 0.84), smoothed (0.62, 0.75, 0.71, 0.82): MISSED (0.9).
    # Random-policy x moves ~0.05 m, under one pixel at 64 px for the 4.8 m track.
    # 2026-12-05 (10 min each, 1 thread, another run beside it; filtered R^2 x, x_dot, theta,
    # theta_dot on held-out random-policy episodes with moving shapes):
    #   64x128 frames (2x the horizontal pixels, 3856 steps): .71 .86 .61 .87 (kernel probe
    #     theta .73); PPO (RL Zoo settings, 100k steps, 3 stacked outputs) on its latents: 78.
    #   starts anywhere on the track (init_state="wide"): <0 -.17 .01 -.03 (the per-episode
    #     cart position tells sequences apart; the latents keep x: R^2 .92 for x on live
    #     latents); half the episodes wide: <0 .81 .37 .78.
    #   a noisy balancing controller on the true state (eps 0.3, 184-step episodes, a target x
    #     per episode), window 25 or 10: R^2 < 0.3 for every variable, same shortcut.
    # Closed-loop diagnosis (64x128 model, a probe fitted on latents of the live env): R^2
    # .95 .95 .92 .97 under random actions, but under a balancing controller the decoded theta
    # drifts after ~25 steps (longer than any training episode; |error| .004 rad in steps
    # 0-10, .15 in 25-100), and a balanced pole (theta std .02 rad) moves its tip by under a
    # pixel. PPO on these latents: 60-78 (state PPO: 500 in 25 s). MISSED: 475.
    # 2026-12-05: a noisy balancing controller whose x target changes every ~50 steps (no
    # per-episode constant; 200 episodes of ~200 steps, x std 0.46 m, theta std 0.044 rad),
    # batch 16, 6000 steps (9 min, 1 thread), held-out controller episodes with moving shapes:
    # filtered R^2 ~0 for every variable, with one window per episode in a batch and with
    # windows_per_episode=4 alike (train log Gamma -0.51 of -log 16 = -2.77: the batch is told
    # apart, but not by anything linear in the state). Random-policy data stays the recipe.
    # 2026-12-05, online EM while PPO learns (the agent's own, longer episodes): `rpgssm bench-rl
    # rpgssm/CartPole-v0 --rows latent,latent+em --cols shapes --seeds 0 --stack 3 --size 64x128
    # --pretrain-episodes 1000 --pretrain-minutes 10 --eval-episodes 20` (1834 steps with two
    # other runs on the cores; filtered R^2 on a held-out split of the step-mode data .87 .92 .85
    # .93): PPO 100k steps, final return 41.6 (latent) and 52.4 (latent + online EM, callback
    # defaults); learning curves 40-90 throughout. MISSED: 475.
    # 2026-12-05, why (a 64x128 model retrained: 3245 steps in 10 min, filtered .69 .83 .68 .88;
    # live env with moving shapes; probes fitted on 150 random-policy episodes; 20 episodes of a
    # noisy balancing controller, 20% random actions, theta std .026 rad): mean |theta error|
    # of the filtered means .010 rad in steps 0-25, .052 in 25-100, .145 in 100-300; the
    # recognition potentials alone (Lam^-1 h per frame, no filter) drift the same way (.006,
    # .041, .069), and a probe fitted on the controller's own latents finds theta R^2 .18
    # (filtered), .14 (recognition). Under balance the frames stop carrying theta (.026 rad
    # moves the pole tip 0.7 px at 64x128): not a filter drift, so no filter-side fix (online
    # EM, recognition-only features) can give the agent theta. Next: a cart-centred,
    # higher-resolution view of the pole as a second modality.
    # Two windows of each episode per batch (windows_per_episode=2: negatives that share the
    # episode's cart position, 64x128, 10 min): .68 .83 .64 .87 filtered (one window: .69 .83
    # .68 .88); with starts anywhere on the track as well: theta .04, x below 0 on the held-out
    # episodes (which start at the centre). Hard negatives do not remove the x shortcut.
    "cartpole64": _CARTPOLE64,
    # rpgssm/CartPoleTracking-v0 (64x168: the 64x128 track band and a 64x40 view following the
    # cart; see rpgssm_env.wrappers.tracking), moving shapes, random actions. 2026-12-05, 10 min
    # each (1 thread, another run beside it), 1000 step-mode training episodes, filtered R^2
    # (x, x_dot, theta, theta_dot) on 200 held-out episodes with moving shapes:
    #   cartpole64 on the tracking frames (2353 steps)         .668 .862 .913 .945
    #   + radius cap 0.999 (projection_eps 1e-3: this preset)    .698 .887 .920 .956
    #   + radius cap 0.995 and A_0 = 0.99 I                      .722 .916 .825 .911
    #   batch 64 (968 steps)                                     .655 .692 .929 .799
    #   K = 12                                                   .573 .818 .904 .924
    #   keypoint read-out (pool="keypoints", strides 2,2,2,1)    .180 .295 .889 .533
    # (cartpole64 on the fixed 64x128 view alone: .69 .83 .68 .88.) With the cap at 0.98 the
    # learned A sat on it (s_max 0.98): x, an integral of x_dot, needs a radius near 1.
    # Closed loop (a noisy balancing controller, theta std .026 rad, probes fitted on random
    # episodes; mean |theta error| in steps 0-25 / 25-100 / 100-300): .012 .016 .032 rad
    # (fixed view alone: .010 .052 .145); a probe fitted on the controller's own latents finds
    # theta R^2 .56 (fixed view alone .18), theta_dot .88.
    # The benchmark's 15-minute run (benchmarks/cartpole_shapes.py --tracking; 2109 steps, the
    # cores shared by three runs): .711 .899 .931 .961 filtered.
    # PPO on the 10-minute model's latents (SB3's PPO defaults with 8 envs: now the default
    # of `rpgssm train rpgssm/CartPoleTracking-v0 --algo PPO`, see agents.hyperparams; 3
    # stacked outputs, shapes; mean over 20 deterministic episodes of the final agent, episodes
    # at 500 in brackets):
    #   seed 0, 100k steps: 322 (7 of 20); seed 1, 200k: 456 (13); seed 2, 300k: 422 (8);
    #   seed 3, 300k: 490 (19 of 20), and 483 over 50 other episodes (41 at 500; seed 1
    #   there: 427, 27 of 50).
    # Evaluations on 5 episodes during training rise from ~200 at 20k steps to 350-500 at
    # 150-300k and move by 100 from one to the next. Controls (seed 3, 150k steps, 20
    # episodes): the RL Zoo's CartPole settings on these latents 254; SB3's defaults on the
    # fixed view alone (the cartpole64 model) 72 (with the Zoo's: 42-78): the tracking view is
    # what lifts the return. The tracking frames with the cap at 0.98 (100k steps): 116;
    # online EM while PPO learns (100k): 72. The falls that remain start
    # with the cart 0.7 m or more from the centre, past the random-policy data (|x| std
    # 0.14 m), where the fixed view's x and the filter degrade. Fine-tuning on starts anywhere
    # on the track (pretrain(init=...), 730 steps at lr 3e-4) lost x on centre starts (R^2 <
    # 0). 475: MET on one seed of four (seed 3, 300k steps), missed on three; R^2 0.9 for x:
    # MISSED.
    # 2026-12-06, seeds 4-6 (300k steps, 20 episodes on seeds 20000+, the runs' final agents):
    # 449 (15 of 20 at 500), 487 (17), 466 (16): 475 met on 2 seeds of 7 (3 and 5). The agents
    # of the best 5-episode evaluation (run/best): seed 5 368 (at 180k), seed 6 483 (270k).
    "cartpole_tracking": {
        **_CARTPOLE64,
        "projection_eps": 1e-3,
    },
    # rpgssm/CartPoleTracking-v0 with training episodes that start anywhere on the track
    # (init_state="track": x in +-2 m, the rest as the env's own starts; 2000 random-policy
    # episodes, step-mode shapes), batched by start position so that no batch is told apart
    # by it (batch_groups=("x", 0.2): windows of episodes whose x_0 lies in one 0.2 m bin).
    # 2026-12-06, 15 min each (1 thread, 2-3 runs on the cores), held-out: the 200 centred
    # random-policy episodes of the other runs; filtered R^2 (x, x_dot, theta, theta_dot) with
    # the probe fitted on centred training episodes (benchmarks/cartpole_shapes.py --tracking
    # --init-state track prints it as r2_centre_probe):
    #   this preset (fixed 0.2 m bins, 3025 steps)                 .285 .871 .997 .981
    #   cartpole_tracking on centred starts (for comparison)       .711 .899 .931 .961
    # Bins 0.5 m wide (edges shifting every epoch, 3282 steps): theta .986, theta_dot .968,
    # x_dot .84; 1 m: every variable lost (R^2 < 0): the start position tells a batch apart
    # again. Shifting 0.2 m edges (1622 steps, three runs on the cores): theta .993; the
    # flattened map plus keypoints (pool="flatten+keypoints", 0.2 or 0.5 m, shifting): theta
    # .990, theta_dot .97. Closed loop (a noisy balancing controller whose x target moves, 20
    # episodes of 300 steps, x over the whole track; probes fitted on centred random
    # episodes), mean |theta error|: .004 rad at every |x| (cartpole_tracking: .032), theta_dot
    # .07 (.12-.17); a probe fitted on the controller's own latents: theta R^2 .996 (.71).
    # What no variant learns is x as one linear code over the track (own-probe R^2 .28-.40;
    # cartpole_tracking .16): the contrastive bound needs x only to tell apart the windows of a
    # batch, which a code that is linear within 0.2-0.5 m does, and the 10-frame windows move
    # the cart ~5 cm. PPO on this preset's latents (SB3 defaults, 300k steps, 3 stacked
    # outputs, 20 episodes on seeds 20000+): 409 (8 of 20 at 500), 462 (13): the pole no
    # longer falls (the centred model's agents fell at |x| >= 0.7 m); the cart now runs off
    # the track (14 of 20 episodes of seed 0 end at |x| >= 2.36 m). Not the default for the id.
    "cartpole_track": {
        **_CARTPOLE64,
        "projection_eps": 1e-3,
        "batch_groups": ("x", 0.2),
    },
}

PRESET_DOCS: dict[str, str] = {
    "pendulum24": "paper setting: 24x24 grey pendulum, new photo per frame, K=8, no actions",
    "pendulum24k12": "the paper's data with K=12 and beta ramped 0.5 -> 1 (steadier sin/cos)",
    "pendulum24b16": "the paper's data with batch 16: faster and better omega, less robust",
    "pendulum24rot": "the paper's data, rotation-block A: cos on 4 seeds, sin on 3, omega on 1",
    "pendulum64": "64x64 colour Pendulum-v1, natural-video background, random torques",
    "cartpole64": "64x64 colour CartPole-v1, moving-shape background, random actions",
    "cartpole_tracking": "rpgssm/CartPoleTracking-v0 (64x168, a view following the cart), shapes",
    "cartpole_track": "cartpole_tracking on starts anywhere on the track, batched by start x "
    "(theta R^2 .997; x not linear over the track)",
}


def preset_names() -> list[str]:
    """Names of the available presets."""
    return sorted(PRESETS)


def get_preset(name: str) -> dict[str, Any]:
    """A copy of preset ``name``.

    Raises:
        ValueError: unknown name (listing the known ones).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    return copy.deepcopy(PRESETS[name])
