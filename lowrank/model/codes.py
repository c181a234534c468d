"""The integer codes of the options, as the kernels see them: the one home of every code.

Kernels never see strings (docs/design.md §4): the packers turn each option
into the integer named here (:func:`lowrank.model.options.kernel_codes`,
:func:`lowrank.model.encoder.encoder_layout`, ``lowrank.inference.elbo``), and
the CPU kernels (``lowrank.kernels``) and the CUDA kernels
(``lowrank.kernels.cuda``) compare against the same names. Numba freezes
module-level integers into the compiled code as constants, so a name costs
nothing at run time; for the same reason this file is part of the kernels'
cache stamp (``lowrank.kernels._cache.kernel_sources``).

The values are stable: some are written to files. This module sits in the
model layer, below the kernels, because the model layer's packers need it;
it imports nothing.
"""

# Each group: the names in code order, then the name -> code table.

# ---- activation φ of the RNN (ModelOptions.activation)
ACT_IDENTITY, ACT_RELU, ACT_CLIPPED_RELU, ACT_TANH = range(4)
ACTIVATION_CODE = dict(zip(("identity", "relu", "clipped_relu", "tanh"), range(4)))

# ---- read-out (ModelOptions.readout)
READOUT_LATENT, READOUT_UNITS = range(2)
READOUT_CODE = dict(zip(("latent", "units"), range(2)))

# ---- likelihood (ModelOptions.likelihood)
LIK_GAUSSIAN, LIK_POISSON = range(2)
LIKELIHOOD_CODE = dict(zip(("gaussian", "poisson"), range(2)))

# ---- Poisson link g (ModelOptions.link)
LINK_SOFTPLUS, LINK_EXP = range(2)
LINK_CODE = dict(zip(("softplus", "exp"), range(2)))

# ---- SMC proposal (the ``proposal=`` of an ELBO call)
PROPOSAL_BOOTSTRAP, PROPOSAL_OPTIMAL, PROPOSAL_ENCODER = range(3)
PROPOSAL_CODE = dict(zip(("bootstrap", "optimal", "encoder"), range(3)))

# ---- resampling scheme (the ``resample=`` of an ELBO call)
RESAMPLE_NONE, RESAMPLE_SYSTEMATIC, RESAMPLE_STRATIFIED, RESAMPLE_MULTINOMIAL = range(4)
RESAMPLE_CODE = dict(zip(("none", "systematic", "stratified", "multinomial"), range(4)))

# ---- the encoder network's activation (EncoderOptions.activation)
ENC_GELU, ENC_LEAKY_RELU = range(2)
ENCODER_ACTIVATION_CODE = dict(zip(("gelu", "leaky_relu"), range(2)))

# ---- the encoder's padding mode (EncoderOptions.padding_mode)
PAD_ZEROS, PAD_REFLECT, PAD_CIRCULAR, PAD_REPLICATE = range(4)
PADDING_MODE_CODE = dict(zip(("zeros", "reflect", "circular", "replicate"), range(4)))
