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

# ---- activation φ of the RNN (ModelOptions.activation)
ACT_IDENTITY = 0
ACT_RELU = 1
ACT_CLIPPED_RELU = 2
ACT_TANH = 3
ACTIVATION_CODE = {"identity": ACT_IDENTITY, "relu": ACT_RELU, "clipped_relu": ACT_CLIPPED_RELU, "tanh": ACT_TANH}

# ---- read-out (ModelOptions.readout)
READOUT_LATENT = 0
READOUT_UNITS = 1
READOUT_CODE = {"latent": READOUT_LATENT, "units": READOUT_UNITS}

# ---- likelihood (ModelOptions.likelihood)
LIK_GAUSSIAN = 0
LIK_POISSON = 1
LIKELIHOOD_CODE = {"gaussian": LIK_GAUSSIAN, "poisson": LIK_POISSON}

# ---- Poisson link g (ModelOptions.link)
LINK_SOFTPLUS = 0
LINK_EXP = 1
LINK_CODE = {"softplus": LINK_SOFTPLUS, "exp": LINK_EXP}

# ---- SMC proposal (the ``proposal=`` of an ELBO call)
PROPOSAL_BOOTSTRAP = 0
PROPOSAL_OPTIMAL = 1
PROPOSAL_ENCODER = 2
PROPOSAL_CODE = {"bootstrap": PROPOSAL_BOOTSTRAP, "optimal": PROPOSAL_OPTIMAL, "encoder": PROPOSAL_ENCODER}

# ---- resampling scheme (the ``resample=`` of an ELBO call)
RESAMPLE_NONE = 0
RESAMPLE_SYSTEMATIC = 1
RESAMPLE_STRATIFIED = 2
RESAMPLE_MULTINOMIAL = 3
RESAMPLE_CODE = {"none": RESAMPLE_NONE, "systematic": RESAMPLE_SYSTEMATIC, "stratified": RESAMPLE_STRATIFIED,
                 "multinomial": RESAMPLE_MULTINOMIAL}

# ---- the encoder network's activation (EncoderOptions.activation)
ENC_GELU = 0
ENC_LEAKY_RELU = 1
ENCODER_ACTIVATION_CODE = {"gelu": ENC_GELU, "leaky_relu": ENC_LEAKY_RELU}

# ---- the encoder's padding mode (EncoderOptions.padding_mode)
PAD_ZEROS = 0
PAD_REFLECT = 1
PAD_CIRCULAR = 2
PAD_REPLICATE = 3
PADDING_MODE_CODE = {"zeros": PAD_ZEROS, "reflect": PAD_REFLECT, "circular": PAD_CIRCULAR,
                     "replicate": PAD_REPLICATE}
